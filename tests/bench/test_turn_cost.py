"""The stage rules of ``bench/turn_cost.py`` on hand-written py-spy stacks.

The per-stage CPU it reports is only as good as these rules, so each rule has a line
shaped like py-spy's raw output (``frame;frame;… count``, innermost frame last).
"""

from __future__ import annotations

import pytest

from bench.turn_cost import (
    ACTIONS,
    GATEWAY,
    IDLE,
    RASA,
    library_of,
    samples_by_stage,
    stage_of,
    step_of,
)

SANIC = (
    "<module> (run_rasa.py:41);main (rasa/__main__.py:133);run (sanic/app.py:1204);"
    "serve (sanic/server/runners.py:155)"
)
TURN = (
    f"{SANIC};receive (rasa/core/channels/rest.py:162);"
    "handle_message (rasa/core/agent.py:418)"
)
SDK = (
    "<module> (vetrina/observability/action_server.py:65);run (sanic/app.py:1204);"
    "serve (sanic/server/runners.py:155);webhook (rasa_sdk/endpoint.py:113);"
    "run (rasa_sdk/executor.py:398)"
)
THREAD = "_bootstrap (threading.py:973);_bootstrap_inner (threading.py:1016);run (threading.py:953)"


@pytest.mark.parametrize(
    ("service", "stack", "stage"),
    [
        # Rasa: NLU, under a component or under parse_message (the graph's own frames).
        (RASA, f"{TURN};parse_message (rasa/core/processor.py:700);"
         "process (rasa/nlu/classifiers/diet_classifier.py:1000);"
         "quick_execute (tensorflow/python/eager/execute.py:52)", "Rasa NLU"),
        (RASA, f"{TURN};parse_message (rasa/core/processor.py:700);"
         "run (rasa/engine/graph.py:500)", "Rasa NLU"),
        # Policies: a policy, even when it reads the tracker (its states are policy work).
        (RASA, f"{TURN};_predict_next_with_tracker (rasa/core/processor.py:1100);"
         "run (rasa/engine/graph.py:500);predict_action_probabilities "
         "(rasa/core/policies/rule_policy.py:900);past_states "
         "(rasa/shared/core/trackers.py:300)", "Rasa policies"),
        (RASA, f"{TURN};_predict_next_with_tracker (rasa/core/processor.py:1100);"
         "run (rasa/engine/graph.py:500)", "Rasa policies"),
        # Tracker store: load/save, (de)serialisation and replay of the events.
        (RASA, f"{TURN};save (rasa/core/tracker_store.py:1360);"
         "commit (sqlalchemy/orm/session.py:1454)", "Rasa tracker store"),
        (RASA, f"{TURN};run (rasa/core/actions/action.py:790);"
         "from_events (rasa/shared/core/trackers.py:250);"
         "update (rasa/shared/core/trackers.py:700)", "Rasa tracker store"),
        (RASA, f"{TURN};as_dict (rasa/shared/core/events.py:500)", "Rasa tracker store"),
        # Other: HTTP, the action client and its response validation, NLG.
        (RASA, f"{TURN};run (rasa/core/actions/action.py:790);"
         "_validate_action_result (rasa/core/actions/action.py:704);"
         "validate (jsonschema/validators.py:1300)", "Rasa other"),
        (RASA, f"{SANIC};http1 (sanic/http.py:146)", "Rasa other"),
        # Action server: catalog code is the resolver, SQL without it is DB, else SDK.
        (ACTIONS, f"{SDK};run (actions/stock.py:229);check "
         "(vetrina/catalog/stock_check.py:265);resolve (vetrina/catalog/resolution.py:90)",
         "stock resolver"),
        (ACTIONS, f"{SDK};run (actions/stock.py:229);check "
         "(vetrina/catalog/stock_check.py:265);scalar (sqlalchemy/ext/asyncio/session.py:505)",
         "stock resolver"),
        (ACTIONS, "scalar (sqlalchemy/orm/session.py:2421);_generate_cache_key "
         "(sqlalchemy/sql/cache_key.py:383)", "action server DB"),
        (ACTIONS, f"{THREAD};_connection_worker_thread (aiosqlite/core.py:63)",
         "action server DB"),
        (ACTIONS, f"{SDK};run (actions/slots.py:40)", "action server (SDK/HTTP)"),
        # Gateway: one stage, whatever it does.
        (GATEWAY, "<module> (vetrina:6);run_app (aiohttp/web.py:500);"
         "execute (sqlalchemy/engine/base.py:1464)", "gateway"),
        # Waiting threads are idle in every process, and so is the bench's probe thread.
        (RASA, SANIC, IDLE),
        (ACTIONS, f"{THREAD};_connection_worker_thread (aiosqlite/core.py:59)", IDLE),
        (GATEWAY, "<module> (vetrina:6);run_forever (asyncio/base_events.py:603);"
         "_run_once (asyncio/base_events.py:1871);select (selectors.py:469)", IDLE),
        (GATEWAY, f"{THREAD};writer (sitecustomize.py:55)", IDLE),
        (RASA, THREAD, IDLE),
        (
            RASA,
            "/root/.venv/lib/python3.10/site-packages/rasa/core/processor.py"
            " is not a frame;save (/root/.venv/lib/python3.10/site-packages/rasa/core/"
            "tracker_store.py:1360)",
            "Rasa tracker store",
        ),
    ],
)
def test_each_stack_goes_to_its_stage(service: str, stack: str, stage: str) -> None:
    assert stage_of(service, stack) == stage


def test_raw_output_is_summed_by_stage() -> None:
    raw = [
        f"{TURN};parse_message (rasa/core/processor.py:700) 7\n",
        f"{TURN};save (rasa/core/tracker_store.py:1360) 3\n",
        f"{SANIC} 120\n",
        "garbage without a count\n",
        "",
    ]
    assert samples_by_stage(RASA, raw) == {"Rasa NLU": 7, "Rasa tracker store": 3, IDLE: 120}


def test_the_library_is_the_innermost_frames_package() -> None:
    assert library_of(f"{TURN};validate (jsonschema/validators.py:1300)") == "jsonschema"
    assert library_of(
        "f (/x/lib/python3.10/site-packages/sqlalchemy/orm/session.py:1)"
    ) == "sqlalchemy"
    assert library_of("<module> (vetrina:6)") == "vetrina"
    assert library_of("select (selectors.py:469)") == "selectors"


def test_without_wait_rules_only_the_probe_is_idle() -> None:
    """py-spy in blocking mode drops waiting threads itself: a sampled ``serve`` frame is
    uvloop doing I/O in C, which is work."""
    assert stage_of(RASA, SANIC, waits=()) == "Rasa other"
    assert stage_of(GATEWAY, f"{THREAD};writer (sitecustomize.py:49)", waits=()) == IDLE


def test_rasa_steps_follow_handle_message() -> None:
    step = f"{TURN};handle_message (rasa/core/processor.py:167)"
    assert step_of(f"{step};run_action_extract_slots (rasa/core/processor.py:195);"
                   "request (rasa/utils/endpoints.py:183)").startswith("slot mappings")
    assert step_of(f"{step};log_message (rasa/core/processor.py:462);"
                   "fetch_tracker_and_update_session (rasa/core/processor.py:400);"
                   "retrieve (rasa/core/tracker_store.py:1254)") == "load tracker"
    assert step_of(f"{step};_run_prediction_loop (rasa/core/processor.py:884);"
                   "save_tracker (rasa/core/processor.py:1200)") == "save tracker"
    assert step_of(SANIC + ";http1 (sanic/http.py:146)") == "HTTP and the rest"
