import os


def attempt(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__ + ": " + exc.strerror


def run(payload):
    here = os.path.dirname(os.path.abspath(__file__))
    targets = ["/evotraders-probe", "/usr/evotraders-probe", "/etc/evotraders-probe",
               os.path.join(here, "evotraders-probe")]
    return {"results": {path: attempt(path) for path in targets},
            "cwd": attempt(os.path.join(os.getcwd(), "scratch.txt"))}
