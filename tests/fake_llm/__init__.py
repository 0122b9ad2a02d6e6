"""Loopback OpenAI-compatible server used by tests and benchmarks (the only fake LLM).

In-process::

    with FakeLLMServer(latency=0.0, faults={"429": 0.1}) as srv:
        srv.base_url                      # "http://127.0.0.1:<port>/v1"
        srv.set_handler("qa_generator", fn)
        srv.requests                      # list[RecordedRequest]

A handler may return ``FakeReply(content, {"reasoning_content": ...})`` to add fields to the
reply message (``with_reasoning(handler)`` does that, as reasoning servers reply).

As a process: ``python -m tests.fake_llm --port 0 --latency-ms 200`` prints
``READY http://127.0.0.1:<port>/v1`` and serves until killed.
"""

from tests.fake_llm.faults import FakeHTTPError, Faults
from tests.fake_llm.handlers import SCRIPTS, chunk_ids_in, language_in
from tests.fake_llm.records import RecordedRequest
from tests.fake_llm.reply import FakeReply, with_reasoning
from tests.fake_llm.server import FakeLLMServer

__all__ = ["FakeLLMServer", "RecordedRequest", "Faults", "FakeHTTPError", "SCRIPTS",
           "chunk_ids_in", "language_in", "FakeReply", "with_reasoning"]
