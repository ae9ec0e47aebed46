def compute(values):
    raise ValueError("boom from the crash skill: " + str(values))


def run(payload):
    print("about to fail")
    if payload.get("exit"):
        raise SystemExit(payload["exit"])
    return compute(payload)
