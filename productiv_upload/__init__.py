"""Push batches of files to Productiv's Batch Files Upload API."""

__version__ = "0.1.0"
