"""Email: Jinja2 templates per event type and language (plain text + HTML), sent with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound, select_autoescape
from markupsafe import Markup

from services.notifications.config import Settings

TEMPLATES = Path(__file__).with_name("templates")
FOOTER = {
    "en": "You receive this because of your CLUSNET follow-up subscription.",
    "fr": "Vous recevez ce message au titre de votre abonnement au suivi CLUSNET.",
    "de": "Sie erhalten diese Nachricht aufgrund Ihres Abonnements der CLUSNET-Nachverfolgung.",
}
OPEN = {"en": "Open it in the tracker", "fr": "L’ouvrir dans l’outil de suivi", "de": "Im Tracker öffnen"}
UNSUBSCRIBE = {
    "en": "Unsubscribe from these emails",
    "fr": "Se désabonner de ces e-mails",
    "de": "Diese E-Mails abbestellen",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def environment() -> Environment:
    # Autoescape the HTML part only; text blocks come from the same templates, so the text part
    # is rendered from a second environment without escaping.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), undefined=StrictUndefined)


@cache
def text_environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined)


def _template(env: Environment, language: str, name: str) -> Template:
    """`<lang>/<event name>.j2`, else one template for the aggregate's events (`cluster_link.j2` for
    every `cluster_link.*`), else `default.j2`."""
    lang = language if language in FOOTER else "en"
    for candidate in dict.fromkeys((name, name.split(".", 1)[0], "default")):
        try:
            return env.get_template(f"{lang}/{candidate}.j2")
        except TemplateNotFound:
            continue
    raise TemplateNotFound(f"{lang}/default.j2")


def _block(template: Template, block: str, values: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(values))).strip()


def render(
    language: str, name: str, values: dict[str, Any], link: str | None = None, unsubscribe_url: str | None = None
) -> Rendered:
    """Render template `<language>/<name>.j2` (or `default.j2`). `values["d"]` is the event data;
    its recommendation, follow-up and link are also given as `r`, `f` and `l` for the templates' brevity.
    `link` is the portal page the email is about; `unsubscribe_url` turns this subscription off."""
    lang = language if language in FOOTER else "en"
    data = values.get("d") or {}
    values = {"r": data.get("recommendation"), "f": data.get("followup"), "l": data.get("link"), **values}
    text_t, html_t = _template(text_environment(), lang, name), _template(environment(), lang, name)
    subject = " ".join(_block(text_t, "subject", values).split())
    body = _block(html_t, "html", values)
    layout = environment().get_template("layout.html.j2")
    html = layout.render(
        lang=lang,
        subject=subject,
        body=Markup(body),  # escaped already
        footer=FOOTER[lang],
        link=link,
        open_text=OPEN[lang],
        unsubscribe_url=unsubscribe_url,
        unsubscribe_text=UNSUBSCRIBE[lang],
    )
    text = _block(text_t, "text", values)
    if link:
        text += f"\n\n{OPEN[lang]}: {link}"
    text += "\n\n-- \n" + FOOTER[lang] + "\n"
    if unsubscribe_url:
        text += f"{UNSUBSCRIBE[lang]}: {unsubscribe_url}\n"
    return Rendered(subject=subject, text=text, html=html)


def message(settings: Settings, to: str, rendered: Rendered, message_id: str, unsubscribe_url: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.mail_from, to, rendered.subject
    msg["X-Clusnet-Delivery"] = message_id
    if unsubscribe_url:
        # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" to this URL.
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


async def send(settings: Settings, msg: EmailMessage) -> None:
    await aiosmtplib.send(
        msg,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
        timeout=settings.webhook_timeout_s,
    )
