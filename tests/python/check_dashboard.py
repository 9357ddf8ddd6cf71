"""optuna-dashboard serves an ammc study: started on the storage (a journal file or Redis),
its API lists the study and its trials. Bounded in time; the server is stopped by its PID.

usage: python check_dashboard.py STUDY_NAME TRIALS (JOURNAL_PATH | redis://HOST:PORT)
"""
import json
import socket
import subprocess
import sys
import time
import urllib.request

SERVE = """
import sys, optuna, optuna_dashboard
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend
where, port = sys.argv[1], int(sys.argv[2])
backend = JournalRedisBackend(where) if where.startswith("redis://") else JournalFileBackend(where)
optuna_dashboard.run_server(JournalStorage(backend), host="127.0.0.1", port=port)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def main(name: str, trials: int, where: str) -> int:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, where, str(port)])
    try:
        deadline = time.time() + 60
        while True:
            try:
                studies = get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, "optuna-dashboard exited"
                assert time.time() < deadline, "optuna-dashboard did not answer in 60 s"
                time.sleep(0.2)
        ours = [s for s in studies if s["study_name"] == name]
        assert len(ours) == 1, studies
        detail = get(f"http://127.0.0.1:{port}/api/studies/{ours[0]['study_id']}")
        assert len(detail["trials"]) == trials, (len(detail["trials"]), trials)
        print(f"ok: optuna-dashboard lists {name} with {trials} trials ({where})")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
