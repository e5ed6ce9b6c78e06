"""Settings, resolved in one place: flag > environment > profile > default.

push.py         what a push is asked to do (watch builds one for what it shares)
transfer.py     the transfer settings push, watch and check share
service.py      where the service is and who we are: app, URLs, credentials, trust
config_file.py  the optional TOML file of named profiles
limits.py       the bounds of the numeric settings
state_dir.py    the state folder: where it is, and what is wrong with it
"""
