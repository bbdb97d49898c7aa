"""`alliance-bot ask` and `search` end the process as soon as their output is flushed
(`bot.cli.main`): nothing printed is lost, the exit status is the command's, and a thread
still at work is waited for as usual."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bot.config import REPO_ROOT

# The console entry point, with an exit handler that only a normal interpreter exit runs,
# and optionally a thread that prints a line once the main thread is done (so, after the
# command returned).
PROGRAM = """
import atexit, sys, threading
from bot.cli import main

atexit.register(lambda: print("TORN DOWN", file=sys.stderr, flush=True))
if sys.argv[1] == "--busy-thread":
    del sys.argv[1]
    threading.Thread(target=lambda: (threading.main_thread().join(), print("THREAD DONE"))).start()
main()
"""


def run(*args: str, settings) -> subprocess.CompletedProcess:
    env = os.environ | {
        "ALLIANCE_INDEX_DIR": str(settings.index_dir),
        "ALLIANCE_DOCUMENTS_DIR": str(settings.documents_dir),
        "ALLIANCE_LOG": "0",
    }
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,  # stdout is a pipe: what is printed must reach it before the exit
        text=True,
        timeout=300,
    )


def test_ask_and_search_exit_at_once_with_their_whole_output(assistant, settings):
    question = "Quel objectif de développement durable le Groupe veut-il éclairer ?"
    r = run("ask", question, "--json", settings=settings)
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)  # the whole JSON document, to its last brace
    assert answer["status"] == "answered" and "ODD 17" in answer["answer"]
    assert "TORN DOWN" not in r.stderr  # the interpreter was not torn down
    r = run("search", question, "--json", settings=settings)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 5, r.stderr
    assert "TORN DOWN" not in r.stderr


def test_the_exit_status_and_the_error_line_are_kept(assistant, settings):
    r = run("ask", "  ", settings=settings)
    assert r.returncode == 2 and "question est vide" in r.stderr
    assert "TORN DOWN" not in r.stderr
    r = run("search", "ESS", "-k", "0", settings=settings)  # click's own usage error
    assert r.returncode == 2 and "-k" in r.stderr and "TORN DOWN" not in r.stderr


def test_a_thread_still_at_work_or_another_command_exits_as_usual(assistant, settings):
    r = run("--busy-thread", "search", "ESS", settings=settings)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("THREAD DONE") and "TORN DOWN" in r.stderr
    r = run("--version", settings=settings)
    assert r.returncode == 0 and "TORN DOWN" in r.stderr
