"""Buffered log files: every line lands, in order, on flush and on close."""

import logging
import threading

from dlgforge_core.store.line_log import QueuedFileLog


def _log(tmp_path) -> QueuedFileLog:
    return QueuedFileLog(tmp_path / "logs" / "x.log", logging.Formatter("%(levelname)s %(message)s"))


def test_flush_writes_buffered_lines_now_and_close_writes_the_rest(tmp_path):
    log = _log(tmp_path)
    log.logger.info("first %d", 1)
    log.flush()
    assert (tmp_path / "logs" / "x.log").read_text() == "INFO first 1\n"
    log.logger.warning("second")
    log.close()
    log.close()  # idempotent
    assert (tmp_path / "logs" / "x.log").read_text().splitlines() == ["INFO first 1", "WARNING second"]


def test_lines_from_many_threads_all_land_in_each_threads_order(tmp_path):
    log = _log(tmp_path)

    def write(name: str) -> None:
        for i in range(500):
            log.logger.info("%s %d", name, i)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    lines = (tmp_path / "logs" / "x.log").read_text().splitlines()
    assert len(lines) == 2000
    for n in range(4):
        mine = [int(line.split()[2]) for line in lines if line.split()[1] == f"t{n}"]
        assert mine == list(range(500))
