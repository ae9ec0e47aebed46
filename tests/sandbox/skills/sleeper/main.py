import time


def run(payload):
    time.sleep(payload.get("seconds", 60))
    return {"slept": payload.get("seconds", 60)}
