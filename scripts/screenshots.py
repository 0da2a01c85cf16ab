"""Screenshots of the console's main views for the README (``docs/console/*.png``).

    .venv/bin/python -m scripts.screenshots --start            # its own demo stack
    .venv/bin/python -m scripts.screenshots --url http://127.0.0.1:8080 \\
        --admin admin@vetrina.example:PASSWORD --consultant giulia@vetrina.example:PASSWORD

``--start`` runs a throw-away demo stack exactly as ``make run`` does (``vetrina migrate``,
``vetrina demo``, the demo accounts, ``scripts.stack run``) in a temporary folder on free
ports, and stops it at the end. Two shoppers write in the web chat (the real assistant
answers and queues them for a person), the demo consultant claims one and replies, and
Chromium (Debian's, ``CHROMIUM_PATH``) takes each view at 1440×900 and 1024×768: the
queue and conversation, the customer sidebar with a stock lookup, the day sheet, the
Insights page and the administration page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SIZES = ((1440, 900), (1024, 768))
STORE = "MI-DUOMO"
PASSWORD_LINE = re.compile(r"(\S+@\S+)\s+(admin|consultant)[^:]*: password (\S+)")


class DemoStack:
    """``make run`` in a temporary folder: migrate, demo data, accounts, the three processes."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vetrina-shots-"))
        self.port = free_port()
        self.env = {
            **os.environ, "VETRINA_PORT": str(self.port), "RASA_PORT": str(free_port()),
            "ACTION_SERVER_PORT": str(free_port()),
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.folder / 'vetrina.db'}",
            "VETRINA_CONSULTANT_HOURS": "",  # always open: the shots show a live queue
        }
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def vetrina(self, *args: str) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "vetrina"), *args], cwd=ROOT, env=self.env, check=True,
            capture_output=True, text=True,
        )
        return done.stdout

    def start(self) -> dict[str, tuple[str, str]]:
        self.vetrina("migrate")
        self.vetrina("demo")
        accounts = {
            role: (email, password)
            for email, role, password in PASSWORD_LINE.findall(
                self.vetrina("consultant", "demo-accounts"))
        }
        log = (self.folder / "stack.log").open("w")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "scripts.stack", "run", "--var",
             str(self.folder / "var")],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if "Assistant ready" in (self.folder / "stack.log").read_text():
                return accounts
            if self.process.poll() is not None:
                break
            time.sleep(1)
        raise RuntimeError(f"the demo stack did not start: see {self.folder / 'stack.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)  # Ctrl-C: the stack stops its three processes
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def shoppers_ask_for_a_person(url: str) -> None:
    """Two web shoppers: one asks about a product first, both ask for a person."""
    sys.path.insert(0, str(ROOT))
    from tests.chat_client import WebCustomer

    for lines in (
        ["Buongiorno, avete il trench nero in M da Vetrina Milano Duomo?",
         "vorrei parlare con una commessa"],
        ["can I talk to a person please?"],
    ):
        customer = await WebCustomer(url).connect()
        try:
            for line in lines:
                await customer.say(line, timeout=120)
        finally:
            await customer.close()


async def _login(browser: Any, url: str, account: tuple[str, str], size: tuple[int, int]) -> Any:
    context = await browser.new_context(
        viewport={"width": size[0], "height": size[1]}, locale="it-IT"
    )
    page = await context.new_page()
    await page.goto(url + "/console/login")
    await page.fill("#email", account[0])
    await page.fill("#password", account[1])
    await page.click("#login")
    await page.wait_for_selector("#live[data-state='online']", timeout=20_000)
    return context, page


async def shoot(url: str, accounts: dict[str, tuple[str, str]], folder: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    written: list[Path] = []

    async def save(page: Any, name: str, size: tuple[int, int]) -> None:
        await page.wait_for_timeout(400)
        path = folder / f"{name}-{size[0]}x{size[1]}.png"
        await page.screenshot(path=str(path))
        written.append(path)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            for n, size in enumerate(SIZES):
                context, page = await _login(browser, url, accounts["consultant"], size)
                try:
                    if n == 0:  # claim the first waiting conversation and answer
                        await page.locator("#queue .queue-item button").first.click()
                        await page.click("#claim")
                        await page.wait_for_selector("#reply-text:enabled")
                        await page.click("#reply-text")
                        await page.keyboard.type("Buongiorno, sono Giulia: il trench nero in M "
                                                 "è disponibile in Duomo, vuole provarlo?")
                        await page.keyboard.press("Enter")
                    else:
                        await page.locator("#mine .mine-item button").first.click()
                    await page.locator("#timeline .msg-consultant").first.wait_for()
                    await save(page, "console", size)
                    if await page.locator("#show-details").is_visible():
                        await page.click("#show-details")
                    await page.fill("#stock-q", "trench nero M")
                    await page.fill("#stock-store", STORE)
                    await page.click("#stock-form button[type=submit]")
                    await page.locator("#stock-result *").first.wait_for()
                    await page.locator("#stock-result").scroll_into_view_if_needed()
                    await save(page, "sidebar", size)
                    await page.goto(url + f"/console/stores/{STORE}/bookings")
                    await save(page, "day-sheet", size)
                finally:
                    await context.close()
                context, page = await _login(browser, url, accounts["admin"], size)
                try:
                    await page.goto(url + "/console/insights")
                    await page.wait_for_selector("#state:not([data-state='loading'])",
                                                 timeout=60_000)
                    await save(page, "insights", size)
                    await page.goto(url + "/console/admin")
                    await page.wait_for_selector("body[data-admin='ready']")
                    await save(page, "admin", size)
                finally:
                    await context.close()
        finally:
            await browser.close()
    return written


def _account(text: str) -> tuple[str, str]:
    email, _, password = text.partition(":")
    if not email or not password:
        raise argparse.ArgumentTypeError("EMAIL:PASSWORD")
    return email, password


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshots")
    parser.add_argument("--start", action="store_true", help="start a throw-away demo stack")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--admin", type=_account, help="EMAIL:PASSWORD of an admin")
    parser.add_argument("--consultant", type=_account,
                        help=f"EMAIL:PASSWORD of a consultant of {STORE}")
    parser.add_argument("--out", default=str(ROOT / "docs" / "console"))
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 1
    stack = DemoStack() if args.start else None
    try:
        if stack is not None:
            accounts, url = stack.start(), stack.url
        else:
            if not (args.admin and args.consultant):
                parser.error("give --admin and --consultant (or --start)")
            accounts, url = {"admin": args.admin, "consultant": args.consultant}, args.url
        httpx.get(url + "/readyz", timeout=10).raise_for_status()
        Path(args.out).mkdir(parents=True, exist_ok=True)
        asyncio.run(shoppers_ask_for_a_person(url))
        for path in asyncio.run(shoot(url, accounts, Path(args.out))):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        if stack is not None:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
