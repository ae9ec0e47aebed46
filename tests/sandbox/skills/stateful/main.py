import os
import tempfile

CALLS = []  # module state: grows only if the same process serves several calls


def run(payload):
    CALLS.append(1)
    cwd_marker = os.path.join(os.getcwd(), "stateful-marker")
    tmp_marker = os.path.join(tempfile.gettempdir(), "stateful-marker")
    seen = {"cwd": os.path.exists(cwd_marker), "tmp": os.path.exists(tmp_marker)}
    for path in (cwd_marker, tmp_marker):
        try:
            with open(path, "w") as handle:
                handle.write("was here")
        except OSError:
            pass
    return {"calls_in_this_process": len(CALLS), "saw_earlier_call": seen}
