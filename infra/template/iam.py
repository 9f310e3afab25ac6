"""Least privilege: IAM statements for what a package's code touches (``infra/access.py``)."""

from __future__ import annotations

from typing import Any

from infra.template.common import getatt, sub
from infra.template.tables import table_logical_id


def _table_arns(base: str) -> list[Any]:
    lid = table_logical_id(base)
    return [getatt(lid, "Arn"), sub("${" + lid + ".Arn}/index/*")]


def access_statements(pkg: Any, s3_prefix: str = "") -> list[dict[str, Any]]:
    """IAM statements for what the package's code touches (infra/access.py); ``s3_prefix`` narrows the
    documents bucket to the keys under it."""
    from infra.access import package_access

    access = package_access(pkg)
    by_actions: dict[tuple[str, ...], list[str]] = {}
    for table in sorted(access.tables):
        by_actions.setdefault(tuple(access.actions(table)), []).append(table)
    out: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": [arn for table in tables for arn in _table_arns(table)],
        }
        for actions, tables in sorted(by_actions.items(), key=lambda kv: (-len(kv[0]), kv[1]))
    ]
    # every function opens the data key (secrets, network passwords)
    out.append(
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": getatt("DataKey", "Arn"),
        }
    )
    out.append(
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/wispcloud/${AWS::StackName}/data-key"
            ),
        }
    )
    if "sqs" in access.services:
        out.append(
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                "Resource": [getatt("ProvisionQueue", "Arn"), getatt("ProvisionDeadLetterQueue", "Arn")],
            }
        )
    if "sqs" in access.services and "jobs" in access.queues:
        out.append({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": getatt("JobsQueue", "Arn")})
    if "s3" in access.services:
        actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        if access.multipart:
            actions.append("s3:AbortMultipartUpload")
        out.append(
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": sub(f"arn:${{AWS::Partition}}:s3:::${{DocumentsBucket}}/{s3_prefix}*"),
            }
        )
    if "ses" in access.services:
        out.append({"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": "*"})
    if "sns" in access.services:  # SMS to phone numbers: no topic to name
        out.append({"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"})
    return out
