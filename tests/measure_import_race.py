"""How often ``outbox import-ledger`` beside a running SQLite sidecar ends in a second creeerZaak (deploy-sidecar.md).

Why a script, not a test: it races the real CLI process against real traffic, so what it counts depends on
timing; ``tests/test_import_beside_sidecar.py`` holds the race open on purpose instead. Per try: a fresh sidecar
(real ``overstap serve``, real receiver), ``import-ledger --replace`` of a batch run over N variants of A-02 in a
process of its own, and meanwhile an A-04 of each chain from 4 senders. Per chain, from the receiver and the ledger:

* ``before``: a creeerZaak and the batch run's state held: committed before the import (``--replace`` took it back);
* ``ok``: no creeerZaak, the imported zaak continued;
* ``BUG``: a creeerZaak and the A-04's end held: rendered before the import, committed after it over it.

    PYTHONPATH=$PWD OVERSTAP_REFERENCE_DIR=/work/shared/reference python tests/measure_import_race.py \
        --chains 200 --tries 5 --work /tmp/import-race
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_helpers import (  # the tests' helpers: a script run from the repository root
    GatewayProcess,
    Receiver,
    ServerThread,
    free_port,
    overstap_command,
    sample,
    soap11,
    variant,
)
from test_proxy_ledger import A02, A04, operations


def _batch(work: Path, chains: int) -> Path:
    """A batch run's --state over ``chains`` variants of A-02 (made once, read by every try)."""
    state = work / "state"
    if not state.exists():
        (work / "archive").mkdir(parents=True, exist_ok=True)
        for i in range(chains):
            (work / "archive" / f"{i:05d}.xml").write_bytes(variant(sample(A02), i, i))
        subprocess.run([*overstap_command(), "batch", str(work / "archive"), "--out", str(work / "out"),
                        "--workers", "0", "--quiet", "--state", str(state)], check=True)
    return state


def _send(url: str, chains: list[int]) -> None:
    with httpx.Client(timeout=60) as client:
        for i in chains:
            client.post(url + "/soap", content=soap11(variant(sample(A04), 1000 + i, i)))


def one_try(work: Path, state: Path, chains: int, head_start: float, t: int) -> dict[str, int]:
    """One import beside one sidecar under traffic; counts per chain (see the module doc)."""
    data = work / f"data{t}"
    shutil.rmtree(data, ignore_errors=True)
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/zs", "--log-level", "info"],
                            free_port(), work / "gateway.log").start()
        try:
            order = random.sample(range(chains), chains)
            cli = subprocess.Popen([*overstap_command(), "outbox", "import-ledger", "--state", str(state),
                                    "--data-dir", str(data), "--replace"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            time.sleep(head_start)  # the CLI loads its modules first (~1 s): the traffic spans its transaction
            senders = [threading.Thread(target=_send, args=(gw.url, order[j::4])) for j in range(4)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            said = cli.communicate(timeout=120)[0].decode().strip()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(map(len, operations(rec).values())) < 2 * chains:
                time.sleep(0.2)
            time.sleep(1.0)
        finally:
            gw.terminate()
    done = operations(rec)
    counts = {"before": 0, "ok": 0, "BUG": 0}
    conn = sqlite3.connect(data / "outbox.sqlite3")
    for zaak, text in conn.execute("SELECT zaak, state FROM zaak_state"):
        ended = json.loads(text)["attrs"]["einddatum"] is not None
        created = "creeerZaak" in done.get(zaak, [])
        counts["BUG" if created and ended else "before" if created else "ok"] += 1
    conn.close()
    print(f"try {t}: import exit {cli.returncode} ({said}); {counts}", flush=True)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--head-start", type=float, default=0.2, help="seconds between starting the CLI and traffic")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    state = _batch(args.work, args.chains)
    totals = {"before": 0, "ok": 0, "BUG": 0}
    for t in range(args.tries):
        for key, n in one_try(args.work, state, args.chains, args.head_start, t).items():
            totals[key] += n
    again = (args.work / "gateway.log").read_text(errors="replace").count("rendering it again")
    print(f"totals {totals}; messages rendered again (gateway.log over all tries): {again}")


if __name__ == "__main__":
    main()
