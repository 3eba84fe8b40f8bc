"""The secret rules, kept as data: one entry per credential format. Pure; nothing compiled here.

Written for this project from the providers' documented token formats (and informed by how public
rule sets such as gitleaks and detect-secrets approach the problem, none of them copied). Every
pattern is in the syntax shared by RE2 and Python's ``re`` (no look-around, no back-references, no
possessive quantifiers), so :mod:`core.secrets.engine` can run it on either and the benchmark can
compare them. Two RE2 costs shape them (bench/secret_scan.py measures both): counted repetitions
of an ambiguous group (`(?:…: [^\n]{1,200}\n){0,4}`) blow up its DFA (a 3 KB block holding a PEM key
took 5–10 ms instead of 0.1 ms); and a capture group around an unbounded, ambiguous run makes a
megabyte-long match expensive to extract (0.4 s for 5 MB of `password=password=…`). So captures
that follow an ambiguous prefix are bounded (`{8,128}`), and nothing else is. Group 1 of each
pattern is the secret itself: it is what the fingerprint is taken of and where the reported offset
points.

Precision comes first (false positives on code are the main complaint about secret scanners):
provider formats are matched on their fixed prefixes; the keyword rules require an assignment shape
and a value that looks like a credential rather than an expression or a placeholder
(:mod:`core.secrets.values`). Entropy-only detection is a rule of its own and off by default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # stable: it names the finding in spans, counters and the block message
    label: str  # what a developer is told was found ("an Anthropic API key")
    pattern: str  # group 1 is the secret
    # Literal fragments one of which any match contains: a block none of them appears in is not
    # searched with this rule. Case-sensitive unless ``ignore_case``.
    triggers: tuple[str, ...]
    ignore_case: bool = False
    # Which value check (core.secrets.values.CHECKS) a match must pass; "token" refuses placeholders.
    check: str = "token"
    enabled_by_default: bool = True


# The end of a keyword rule's identifier: `DB_PASSWORD`, `client_secret`, `apiKey`, `auth-token`…
_SECRET_NAME = (
    r"(?:pass(?:word|wd|phrase)|pwd|secret(?:[_-]?key)?|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|auth[_-]?key|credentials?)"
)
# `name = value`, `name: value`, `"name": "value"`, `name := value`, `name => value`, and a Python
# annotation between the two (`password: str = "…"`).
_ASSIGN = r"""["']?[ \t]{0,4}(?::[ \t]*[A-Za-z_][\w\[\]., |]*?)?(?::=|=>|=|:)[ \t]{0,4}"""

RULES: tuple[Rule, ...] = (
    # Specific formats first: where two rules match the same text, the earlier one names it.
    Rule("private_key", "a private key block",
         # the base64 body must follow (JSON-escaped newlines included): the bare header, which
         # every PEM parser contains as a constant, is not a key
         r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])+"
         r"(?:[A-Za-z-]+: [^\r\n\\]*(?:\s|\\[rn])+)*"  # PEM headers (Proc-Type: …)
         # the first lines of the body: enough to tell two keys apart (the first line alone is
         # the same ASN.1 preamble for every key of a kind)
         r"([A-Za-z0-9+/=]{40,100}(?:(?:\s|\\[rn])+[A-Za-z0-9+/=]{1,100}){0,3})",
         ("PRIVATE KEY",), check="any"),
    Rule("anthropic_api_key", "an Anthropic API key",
         r"\b(sk-ant-(?:api|admin|oat|ort|sid)[0-9]{2}-[A-Za-z0-9_-]{32,})", ("sk-ant-",)),
    Rule("openai_api_key", "an OpenAI API key",
         r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{16,}T3BlbkFJ[A-Za-z0-9]{16,})",
         ("sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ")),
    Rule("aws_access_key_id", "an AWS access key id",
         r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b", ("AKIA", "ASIA", "ABIA", "ACCA")),
    Rule("aws_secret_access_key", "an AWS secret access key",
         r"(?i)(?:aws[_-]?secret(?:[_-]?access)?(?:[_-]?key)?|secret[_-]?access[_-]?key)" + _ASSIGN
         + r"""["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)""",
         ("secret_access_key", "secretaccesskey", "aws_secret", "secret-access-key", "aws-secret"),
         ignore_case=True),
    Rule("github_token", "a GitHub token",
         r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})",
         ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Rule("gitlab_token", "a GitLab token",
         r"\b(gl(?:pat|dt|rt|ptt|soat|cbt|ffct|oas|imt|ft|agent)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{2,}){0,3}"
         r"|GR1348941[A-Za-z0-9_-]{20,})",
         ("glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glcbt-", "glffct-", "gloas-", "glimt-", "glft-",
          "glagent-", "GR1348941")),
    Rule("slack_token", "a Slack token",
         r"\b(xox[abposre]-[0-9]{6,}-[A-Za-z0-9-]{10,}|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{40,}"
         r"|xapp-[0-9]-[A-Z0-9]{8,}-[0-9]{6,}-[a-f0-9]{32,})",
         ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe", "xapp-")),
    Rule("slack_webhook", "a Slack webhook URL",
         r"hooks\.slack\.com/(?:services|workflows|triggers)/(T[A-Z0-9]{6,}/[A-Za-z0-9/]{6,}/[A-Za-z0-9]{20,})",
         ("hooks.slack.com",)),
    Rule("stripe_key", "a Stripe secret key",
         r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9+/]{24,})",
         ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_")),
    Rule("google_api_key", "a Google API key", r"\b(AIza[A-Za-z0-9_-]{35})", ("AIza",)),
    Rule("google_oauth_client_secret", "a Google OAuth client secret",
         r"\b(GOCSPX-[A-Za-z0-9_-]{28})", ("GOCSPX-",)),
    # A service-account key file: its key id is as specific as it gets; the key itself is also
    # caught by private_key (JSON-escaped newlines and all).
    Rule("google_service_account", "a Google service-account key",
         # also when the file is quoted once more (`\"private_key_id\": \"…\"` in a JSON string)
         r"""\\?"private_key_id\\?"\s*:\s*\\?"([a-f0-9]{40})""", ("private_key_id",), check="any"),
    Rule("jwt", "a signed JSON Web Token",
         r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})", ("eyJ",)),
    # An opaque token in an Authorization header (a pasted curl command, a logged request). JWTs
    # are named by the rule above; `Bearer $TOKEN`, `"Bearer " + token` and placeholders are not tokens.
    Rule("bearer_token", "a bearer token in an Authorization header",
         r"""(?i)authorization["']?[ \t]{0,4}[:=][ \t]{0,4}["']?bearer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)""",
         ("authorization",), ignore_case=True, check="bearer"),
    Rule("database_url", "a database URL with a password",
         r"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle"
         r"|cockroachdb|clickhouse|couchdb|neo4j)(?:\+[a-z0-9]+)?://[^\s:/@'\"`]*:"
         r"([^\s/@'\"`]{1,128})@[A-Za-z0-9.\[\]_-]",
         ("postgres", "mysql", "mariadb", "mongodb", "redis", "amqp", "mssql", "sqlserver", "oracle",
          "cockroachdb", "clickhouse", "couchdb", "neo4j"),
         ignore_case=True, check="password"),
    # Keyword rule: only blocks containing one of the keywords are searched with it at all.
    Rule("generic_secret", "a password or secret assigned in code or config",
         # no leading `[\w.-]{0,40}` for the rest of the name: it made this rule 6× slower on RE2;
         # the engine hands the checks the name's head instead (engine.NAME_CONTEXT)
         r"(?i)" + _SECRET_NAME + _ASSIGN
         + r"""["'`]?([^\s"'`,;&)\]}>]{8,128})(?:["'`\s,;&)\]}>]|$)""",
         ("pass", "pwd", "secret", "token", "api_key", "apikey", "api-key", "access_key", "access-key",
          "accesskey", "private_key", "privatekey", "auth_key", "authkey", "credential"),
         ignore_case=True, check="assigned"),
    # Entropy only: flags hashes, UUIDs and base64 fixtures in code; opt-in.
    Rule("high_entropy_string", "a high-entropy string",
         r"""["'`]([A-Za-z0-9+/=_-]{32,256})["'`]""", ('"', "'", "`"), check="entropy",
         enabled_by_default=False),
)

DEFAULT_RULE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES if rule.enabled_by_default)
