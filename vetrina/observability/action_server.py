"""The action server (rasa-sdk), with Vetrina's log lines.

``python -m vetrina.observability.action_server --actions actions -p 5055`` takes the
arguments of ``python -m rasa_sdk``. Every action runs with the ``message_id`` of the
customer message it answers (Rasa passes the gateway's ``vetrina_message_id`` in the
user event's metadata), so its log lines carry the same id as the gateway's; with
``VETRINA_LOG_FORMAT=json`` they are JSON lines like the gateway's. rasa-sdk has no hook
around an action call, so the executor's ``run`` is wrapped here, at start-up.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from rasa_sdk import utils
from rasa_sdk.__main__ import main_from_args
from rasa_sdk.endpoint import create_argument_parser, run
from rasa_sdk.executor import ActionExecutor

from vetrina.observability.logs import configure_logging, working_on
from vetrina.settings import Settings

log = logging.getLogger("vetrina.actions")


def message_id_of(action_call: dict[str, Any]) -> Any:
    tracker = action_call.get("tracker") or {}
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    return metadata.get("vetrina_message_id")


def install_message_ids() -> None:
    """Run every action inside ``working_on(<the message it answers>)``."""
    original = ActionExecutor.run
    if getattr(original, "_vetrina", False):
        return

    @functools.wraps(original)
    async def run_with_id(self: ActionExecutor, action_call: dict[str, Any]) -> Any:
        with working_on(message_id_of(action_call)):
            log.info("running %s", action_call.get("next_action"))
            return await original(self, action_call)

    run_with_id._vetrina = True  # type: ignore[attr-defined]
    ActionExecutor.run = run_with_id


def main() -> None:
    args = create_argument_parser().parse_args()
    settings = Settings.from_env()
    install_message_ids()
    if settings.log_format != "json":
        main_from_args(args)
        return
    # rasa-sdk's own start-up, with JSON lines instead of its coloured ones.
    configure_logging(settings.log_level, json_lines=True, process="actions")
    utils.update_sanic_log_level()
    run(args.actions, args.port, args.cors, args.ssl_certificate, args.ssl_keyfile,
        args.ssl_password, args.auto_reload)


if __name__ == "__main__":
    main()
