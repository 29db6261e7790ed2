"""One trace id from the lead partner's HTTP request, through its event, to the follow-up event
that the evaluations service emits in response."""

from __future__ import annotations

import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.platform.tracing import trace_id
from tests.support import Env, read_topic, running

pytestmark = pytest.mark.services
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def issue_traced(env: Env, title: str) -> str:
    """Run both services, issue a recommendation with a caller's traceparent, wait until the
    evaluations service has emitted its follow-up event; answer the recommendation id."""
    rec_settings = env.settings(RecommendationsSettings)
    await load_demo_data(rec_settings)
    recommendations, evaluations = recommendations_app(rec_settings), evaluations_app(env.settings(EvaluationsSettings))
    async with running(recommendations), running(evaluations), await env.client(recommendations, "lead_partner") as lead:
        seminar_id = (await lead.get("/seminars")).json()["items"][0]["id"]
        draft = (
            await lead.post(f"/seminars/{seminar_id}/recommendations", json={"title": title, "text": "t", "dimension": "setting"})
        ).json()
        answer = await lead.post(
            f"/recommendations/{draft['id']}/issue", headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
        )
        assert answer.status_code == 200
        await read_topic(env.kafka, env.topic("evaluations"), 12)  # its follow-up event exists
    return str(draft["id"])


async def test_trace_context_follows_the_event_chain(env: Env) -> None:
    rec_id = await issue_traced(env, "Traced")
    issued = [r for r in await read_topic(env.kafka, env.topic("recommendations"), 3 + 11 + 1) if r.key == rec_id.encode()]
    opened = [r for r in await read_topic(env.kafka, env.topic("evaluations"), 12) if b"Traced" in r.value]
    assert [trace_id(dict(r.headers)["traceparent"].decode()) for r in issued] == [TRACE]
    assert [trace_id(dict(r.headers)["traceparent"].decode()) for r in opened] == [TRACE]
    assert dict(issued[0].headers)["traceparent"] != dict(opened[0].headers)["traceparent"], "a new span per hop"


async def test_spans_are_exported_only_when_configured(env: Env) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared.platform import tracing

    assert not tracing.enable_export("recommendations"), "no OTLP endpoint configured: nothing is exported"
    exporter = InMemorySpanExporter()
    assert tracing.enable_export("clusnet-test", exporter)
    try:
        rec_id = await issue_traced(env, "Exported")
    finally:
        tracing.disable_export()  # flushes
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if format(s.context.trace_id, "032x") == TRACE]
    names = {s.name for s in ours}
    assert f"POST /recommendations/{rec_id}/issue" in names
    assert "apply eu.clusnet.recommendation.issued.v1" in names, names
    server = next(s for s in ours if s.name.startswith("POST"))
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7", "the caller's span is the parent"
