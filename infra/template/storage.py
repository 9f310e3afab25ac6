"""The data key, the documents bucket, the provisioning queues and the jobs queue."""

from __future__ import annotations

from typing import Any

from infra.template.common import RETAIN, getatt, private_bucket, ref, sub

# Seconds a received job message stays hidden: the jobs function's timeout (900 s) and a margin
JOBS_VISIBILITY_S = 1080


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
            # a job file whose upload was never completed (a failed job's run that died) is removed
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "AbortUnfinishedJobUploads",
                        "Status": "Enabled",
                        "Prefix": "jobs/",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    }
                ]
            },
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
    r.update(_jobs_queues())
    return r


def _jobs_queues() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["JobsDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": sub("${AWS::StackName}-jobs-dlq"), "MessageRetentionPeriod": 1209600},
    }
    r["JobsQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": sub("${AWS::StackName}-jobs"),
            # longer than the jobs function's timeout (900 s): a run that died has lost its lease when
            # its message comes back (services/jobs/queue.py)
            "VisibilityTimeout": JOBS_VISIBILITY_S,
            "RedrivePolicy": {
                "deadLetterTargetArn": getatt("JobsDeadLetterQueue", "Arn"),
                "maxReceiveCount": 5,
            },
        },
    }
    return r
