"""Peer (c): the plain sequential `requests` script a developer writes in ten minutes.

One Session (keep-alive), one GET per batch of 100 names, then one PUT per file in turn.
Usage: requests_seq.py DIR [MAX_FILES]   (env: PRODUCTIV_API_URL, _APP_ID, _ACCESS_TOKEN)
"""

import os
import sys

import requests

directory = sys.argv[1]
names = sorted(os.listdir(directory))[: int(sys.argv[2]) if len(sys.argv) > 2 else None]
endpoint = (
    f"{os.environ['PRODUCTIV_API_URL']}/services/push/v1/customer/apps/"
    f"{os.environ['PRODUCTIV_APP_ID']}/upload"
)
headers = {
    "Authorization": f"Bearer {os.environ['PRODUCTIV_ACCESS_TOKEN']}",
    "Content-Type": "application/json",
}

with requests.Session() as session:
    for start in range(0, len(names), 100):
        answer = session.get(
            endpoint, params={"filenames": names[start : start + 100]}, headers=headers
        )
        answer.raise_for_status()
        for name, url in answer.json().items():
            with open(os.path.join(directory, name), "rb") as body:
                session.put(url, data=body).raise_for_status()
