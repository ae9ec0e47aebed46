import socket


def attempt(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect((host, port))
        return "connected"
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc)
    finally:
        sock.close()


def run(payload):
    return {"results": {f"{h}:{p}": attempt(h, p) for h, p in payload["targets"]}}
