"""The web console (web/dist) from a private bucket and the API under the same origin (CloudFront)."""

from __future__ import annotations

from typing import Any

from infra.template.common import RETAIN, getatt, private_bucket, ref, sub

# API paths served by the API behind the web distribution; everything else is the web console
API_PATHS = ("/admin/*", "/portal/*", "/health", "/openapi.json")
# CloudFront managed policies
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

WEB_REWRITE = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  // client-side routes (/subscribers/42, /my/service) are the single-page application
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""


def web_resources() -> dict[str, Any]:
    """The console (web/dist) from a private bucket and the API under the same origin."""
    return {**_web_bucket(), **_web_distribution()}


def _web_bucket() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["WebBucket"] = {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": private_bucket(),
        },
    }
    r["WebOriginAccessControl"] = {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": sub("${AWS::StackName}-web"),
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            }
        },
    }
    r["WebBucketPolicy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref("WebBucket"),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": sub("arn:${AWS::Partition}:s3:::${WebBucket}/*"),
                        "Condition": {
                            "StringEquals": {
                                "AWS:SourceArn": sub(
                                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${WebDistribution}"
                                )
                            }
                        },
                    }
                ],
            },
        },
    }
    return r


def _web_distribution() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["WebRewriteFunction"] = {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": sub("${AWS::StackName}-spa"),
            "AutoPublish": True,
            "FunctionCode": WEB_REWRITE,
            "FunctionConfig": {"Comment": "single-page application fallback", "Runtime": "cloudfront-js-2.0"},
        },
    }
    api_behaviours = [
        {
            "PathPattern": path,
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "https-only",
            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            "CachedMethods": ["GET", "HEAD"],
            "CachePolicyId": CACHING_DISABLED,
            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
            "Compress": True,
        }
        for path in API_PATHS
    ]
    r["WebDistribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": sub("${AWS::StackName}: console, subscriber pages and API"),
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "PriceClass": ref("WebPriceClass"),
                "Origins": [
                    {
                        "Id": "web",
                        "DomainName": getatt("WebBucket", "RegionalDomainName"),
                        "OriginAccessControlId": getatt("WebOriginAccessControl", "Id"),
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    },
                    {
                        "Id": "api",
                        "DomainName": sub("${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                        "OriginPath": "/v1",
                        "CustomOriginConfig": {
                            "OriginProtocolPolicy": "https-only",
                            "OriginSSLProtocols": ["TLSv1.2"],
                        },
                    },
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "Compress": True,
                    "FunctionAssociations": [
                        {
                            "EventType": "viewer-request",
                            "FunctionARN": getatt("WebRewriteFunction", "FunctionARN"),
                        }
                    ],
                },
                "CacheBehaviors": api_behaviours,
            }
        },
    }
    return r
