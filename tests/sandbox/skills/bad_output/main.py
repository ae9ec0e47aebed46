import os
import sys


def run(payload):
    how = payload.get("how")
    if how == "schema":
        return {"answer": "forty-two"}  # valid JSON, wrong type for the schema
    if how == "set":
        return {"answer": {1, 2, 3}}  # not JSON at all
    if how == "list":
        return [42]  # JSON, but not an object
    if how == "vanish":
        sys.stdout.flush()
        os._exit(0)  # leaves without a result
    return {"answer": 42}
