"""Peer (d): the floor for Python. N threads, each with one keep-alive `http.client` connection,
doing only the PUTs; the signed URLs are fetched first and that part is not timed.

Usage: httpclient_floor.py DIR THREADS   (env: PRODUCTIV_API_URL, _APP_ID, _ACCESS_TOKEN)
Prints {"files": n, "put_s": seconds} (the PUT phase only) as JSON on stdout.
"""

import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse

directory, threads = sys.argv[1], int(sys.argv[2])
names = sorted(os.listdir(directory))
api = urllib.parse.urlsplit(os.environ["PRODUCTIV_API_URL"])
endpoint = f"/services/push/v1/customer/apps/{os.environ['PRODUCTIV_APP_ID']}/upload"
headers = {
    "Authorization": f"Bearer {os.environ['PRODUCTIV_ACCESS_TOKEN']}",
    "Content-Type": "application/json",
}

# Not timed: the signed URLs for every file.
work: queue.SimpleQueue[tuple[str, urllib.parse.SplitResult]] = queue.SimpleQueue()
api_connection = http.client.HTTPConnection(api.hostname or "", api.port)
for start in range(0, len(names), 100):
    query = urllib.parse.urlencode([("filenames", n) for n in names[start : start + 100]])
    api_connection.request("GET", f"{endpoint}?{query}", headers=headers)
    answer = api_connection.getresponse()
    if answer.status != 200:
        sys.exit(f"the API answered {answer.status}")
    for name, signed in json.load(answer).items():
        work.put((name, urllib.parse.urlsplit(signed)))
api_connection.close()
failures: list[str] = []


def worker() -> None:
    connection: http.client.HTTPConnection | None = None
    while True:
        try:
            name, url = work.get_nowait()
        except queue.Empty:
            break
        connection = connection or http.client.HTTPConnection(url.hostname or "", url.port)
        with open(os.path.join(directory, name), "rb") as file:
            body = file.read()
        connection.request("PUT", f"{url.path}?{url.query}", body=body)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(f"{name}: {response.status}")
    if connection is not None:
        connection.close()


started = time.perf_counter()
pool = [threading.Thread(target=worker) for _ in range(threads)]
for thread in pool:
    thread.start()
for thread in pool:
    thread.join()
put_s = time.perf_counter() - started
if failures:
    sys.exit(f"{len(failures)} PUTs failed, first: {failures[0]}")
print(json.dumps({"files": len(names), "put_s": put_s}))
