"""The data key, the documents bucket and the provisioning queues."""

from __future__ import annotations

from typing import Any

from infra.template.common import RETAIN, getatt, private_bucket, ref, sub


def storage_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["DataKey"] = {
        "Type": "AWS::KMS::Key",
        **RETAIN,
        "Properties": {
            "Description": "WispCloud data key: wraps the key that encrypts secrets and network passwords",
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdmin",
                        "Effect": "Allow",
                        "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        },
    }
    r["DocumentsBucket"] = {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": ref("DataKey"),
                        }
                    }
                ]
            },
            "PublicAccessBlockConfiguration": private_bucket(),
        },
    }
    r["ProvisionDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": sub("${AWS::StackName}-provision-dlq.fifo"),
            "FifoQueue": True,
            "MessageRetentionPeriod": 1209600,
        },
    }
    r["ProvisionQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": sub("${AWS::StackName}-provision.fifo"),
            "FifoQueue": True,
            "VisibilityTimeout": 360,
            "RedrivePolicy": {
                "deadLetterTargetArn": getatt("ProvisionDeadLetterQueue", "Arn"),
                "maxReceiveCount": 5,
            },
        },
    }
    return r
