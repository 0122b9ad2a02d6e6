"""Per-agent settings: each agent's model, endpoint, key and sampling reach the wire."""

from __future__ import annotations

from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import QuestionReply, ask, run


def test_agent_overrides_pick_endpoint_model_key_and_sampling(make_cfg):
    with FakeLLMServer() as shared, FakeLLMServer(api_key="judge-key") as judge_srv:
        cfg = make_cfg(shared.base_url, temperature=0.3, max_tokens=200, agents={
            "qa_generator": {"model": "gen-model", "temperature": 1.1},
            "qa_judge": {"base_url": judge_srv.base_url, "api_key": "judge-key",
                         "model": "judge-model", "max_tokens": 50, "top_p": 0.5}})
        judge_srv.set_handler("qa_judge", lambda r: {"question": "judged"})
        shared.set_handler("kb_responder", lambda r: {"question": "answered"})

        async def each_agent(client):
            for agent in ("qa_generator", "kb_responder", "qa_judge"):
                await client.structured(agent, ask(), QuestionReply, conversation_id="c-9")
            return client.usage.by_agent()
        usage = run(each_agent, cfg)
        on_shared = {r.agent: r for r in shared.requests}
        [judged] = judge_srv.requests
    gen, resp = on_shared["qa_generator"], on_shared["kb_responder"]
    assert set(on_shared) == {"qa_generator", "kb_responder"}
    assert (gen.model, gen.body["temperature"], gen.body["max_tokens"]) == ("gen-model", 1.1, 200)
    assert (resp.model, resp.body["temperature"]) == ("fake-model", 0.3)
    assert (judged.model, judged.body["max_tokens"], judged.body["top_p"]) == \
        ("judge-model", 50, 0.5)
    assert judged.headers["authorization"] == "Bearer judge-key"
    assert all(r.conversation_id == "c-9" for r in (gen, resp, judged))
    assert set(usage) == {"qa_generator", "kb_responder", "qa_judge"}
    assert all(row["calls"] == 1 and row["prompt_tokens"] > 0 for row in usage.values())
