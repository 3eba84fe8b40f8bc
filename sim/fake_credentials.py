"""The credentials the fake Bedrock and the fake Vertex AI accept by default, shared with the tests and
the demo that talk to them. None of them is valid anywhere real: the access key ids deliberately do
not have the AKIA/ASIA shape of real AWS keys, and the fakes listen on loopback only.
"""

from __future__ import annotations

from sim.sigv4_check import AwsKey

# Long-term IAM user keys (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
TEST_AWS_ACCESS_KEY_ID = "AKIDSWITCHYARDTEST01"
TEST_AWS_SECRET_ACCESS_KEY = "switchyard+fake+secret+never+valid+at+aws"
# Temporary credentials (an assumed role): the session token must arrive as X-Amz-Security-Token.
TEST_AWS_TEMP_ACCESS_KEY_ID = "ASIDSWITCHYARDTEST02"
TEST_AWS_TEMP_SECRET_ACCESS_KEY = "switchyard+fake+temporary+secret+for+sts0"
TEST_AWS_SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFAKE//switchyard+fake+session+token+for+tests=="
# A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK), sent as "Authorization: Bearer …"; shaped like the real
# long-term ones ("ABSK" + base64).
TEST_BEDROCK_API_KEY = "ABSKQmVkcm9ja0FQSUtleS1zd2l0Y2h5YXJkLXRlc3Q6ZmFrZS1rZXktbm90LWZvci1hd3M="
TEST_AWS_REGION = "us-east-1"

TEST_AWS_KEY = AwsKey(TEST_AWS_ACCESS_KEY_ID, TEST_AWS_SECRET_ACCESS_KEY)
TEST_AWS_TEMP_KEY = AwsKey(TEST_AWS_TEMP_ACCESS_KEY_ID, TEST_AWS_TEMP_SECRET_ACCESS_KEY, TEST_AWS_SESSION_TOKEN)

# Vertex AI: an OAuth2 access token (what google-auth would mint), the project and the region.
TEST_VERTEX_ACCESS_TOKEN = "ya29.switchyard-fake-vertex-access-token-for-tests"
TEST_VERTEX_PROJECT = "switchyard-test"
TEST_VERTEX_REGION = "us-east5"
