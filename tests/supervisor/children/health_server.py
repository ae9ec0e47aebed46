"""Test child: serves GET /health on 127.0.0.1:<port> (argv[1]).

Options:
    --status N        answer /health with HTTP N (default 200)
    --sick-file F     answer /health with 503 while file F exists
    --crash-first F   if file F does not exist, create it and exit with code 3 (a first-run crash)
    --lines N         print N numbered lines before serving
"""

import argparse
import http.server
import os
import signal
import sys

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--status", type=int, default=200)
parser.add_argument("--sick-file")
parser.add_argument("--crash-first")
parser.add_argument("--lines", type=int, default=0)
args = parser.parse_args()

if args.crash_first and not os.path.exists(args.crash_first):
    open(args.crash_first, "w").close()
    print("first run: crashing on purpose", flush=True)
    sys.exit(3)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = args.status if self.path == "/health" else 404
        if args.sick_file and os.path.exists(args.sick_file):
            code = 503
        body = b'{"status": "ok"}' if code == 200 else b'{"status": "bad"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *a):
        print("request " + fmt % a, flush=True)


def on_term(signum, frame):
    print("got SIGTERM, bye", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
for i in range(args.lines):
    print(f"line {i}", flush=True)
server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
print(f"listening on {args.port} pid {os.getpid()}", flush=True)
server.serve_forever()
