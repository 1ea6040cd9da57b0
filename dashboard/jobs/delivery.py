"""The email that tells a requester their export is ready, with its signed download link."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage

from dashboard.config import SmtpSettings


def link_email(
    sender: str, recipient: str, filename: str, link: str, expires_at: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"Your export is ready: {filename}"
    message.set_content(
        f"Your export {filename} is ready.\n\n"
        f"Download it here (the link works for you only, until "
        f"{expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
        "The link is also shown in the dashboard's Admin tab under recent jobs.\n"
    )
    return message


def send(smtp: SmtpSettings, message: EmailMessage, timeout: float = 30) -> None:
    """Send through the configured SMTP server; raises on any failure (the task retries)."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
        if smtp.tls:
            client.starttls()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(message)
