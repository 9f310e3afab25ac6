"""The one place that sends e-mail (SES) and SMS (SNS)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from shared.aws import AwsClients
from shared.observability import get_logger

log = get_logger("notifier")

SMS_MAX_CHARS = 164  # SPEC S4: SMS templates are limited to 164 characters


@dataclass(frozen=True)
class SentMessage:
    channel: str
    recipient: str
    message_id: str


class Notifier:
    def __init__(self, aws: AwsClients, sender: str, sms_sender_id: str) -> None:
        self._aws = aws
        self._sender = sender
        self._sms_sender_id = sms_sender_id

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
    ) -> SentMessage:
        """Send an e-mail; ``attachments`` are (file name, content, MIME type) and go as a raw MIME message."""
        if attachments:
            return self._send_raw(to, subject, text, html, attachments)
        body: dict[str, dict[str, str]] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        ses = self._aws.client("ses")
        resp = ses.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [to]},
            Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
        )
        # the subject is a tenant template rendered with the subscriber's data: it is not logged
        log.info("email sent", extra={"channel": "email"})
        return SentMessage("email", to, resp["MessageId"])

    def _send_raw(
        self, to: str, subject: str, text: str, html: str | None, attachments: list[tuple[str, bytes, str]]
    ) -> SentMessage:
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, self._sender, to
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        for name, data, mime in attachments:
            main, _, sub = mime.partition("/")
            msg.add_attachment(data, maintype=main, subtype=sub or "octet-stream", filename=name)
        resp = self._aws.client("ses").send_raw_email(
            Source=self._sender, Destinations=[to], RawMessage={"Data": msg.as_bytes()}
        )
        log.info("email sent", extra={"channel": "email", "attachments": len(attachments)})
        return SentMessage("email", to, resp["MessageId"])

    def send_sms(self, phone: str, text: str) -> SentMessage:
        if len(text) > SMS_MAX_CHARS:
            raise ValueError(f"SMS text is {len(text)} characters; the limit is {SMS_MAX_CHARS}")
        sns = self._aws.client("sns")
        resp = sns.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={
                "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": self._sms_sender_id},
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
            },
        )
        log.info("sms sent", extra={"channel": "sms"})
        return SentMessage("sms", phone, resp["MessageId"])
