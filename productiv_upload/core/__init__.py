"""What a push does, with no user interface: discovery, settings, the push loop, journal, lock."""
