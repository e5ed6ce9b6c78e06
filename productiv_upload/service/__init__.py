"""Talking to the service: the API client, tokens, HTTP sessions, retries, pacing, URL checks."""
