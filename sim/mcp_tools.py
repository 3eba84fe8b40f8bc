"""Tool definitions of MCP servers, as Claude Code offers them after its own tools.

Claude Code names an MCP tool ``mcp__<server>__<tool>`` and passes the server's description and
input schema through; servers keep their descriptions short (one line, unlike the core tools'
pages of usage notes). The servers here are ones teams commonly configure; a request offering more
tools than they have gets second instances of the same servers (``mcp__github_2__…``, as when one
is configured twice, e.g. for two organisations). Deterministic: the first ``count`` tools are
always the same ones, so requests of one repo share them, as in production.
"""

from __future__ import annotations

from typing import Any

_SCHEMA = "http://json-schema.org/draft-07/schema#"
# Parameter names read as numbers; a trailing "?" marks an optional parameter.
_NUMBERS = frozenset({"issue_number", "pull_number", "limit", "per_page", "page", "time", "width", "height"})

# server → (tool, description, parameters)
SERVERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "github": (
        ("create_issue", "Create a new issue in a GitHub repository", "owner repo title body?"),
        ("get_issue", "Get details of a specific issue in a GitHub repository", "owner repo issue_number"),
        ("list_issues", "List issues in a GitHub repository with filtering options", "owner repo state? per_page?"),
        ("add_issue_comment", "Add a comment to a specific issue in a GitHub repository",
         "owner repo issue_number body"),
        ("create_pull_request", "Create a new pull request in a GitHub repository", "owner repo title head base body?"),
        ("get_pull_request", "Get details of a specific pull request", "owner repo pull_number"),
        ("list_pull_requests", "List and filter repository pull requests", "owner repo state? per_page?"),
        ("get_file_contents", "Get the contents of a file or directory from a GitHub repository",
         "owner repo path ref?"),
        ("search_code", "Search for code across GitHub repositories", "q per_page? page?"),
        ("list_commits", "Get list of commits of a branch in a GitHub repository", "owner repo sha? per_page?"),
    ),
    "linear": (
        ("list_issues", "List issues in the user's Linear workspace", "query? team? assignee? limit?"),
        ("get_issue", "Retrieve a Linear issue by its identifier", "id"),
        ("create_issue", "Create a new Linear issue", "title team description? priority?"),
        ("update_issue", "Update an existing Linear issue", "id title? description? state?"),
        ("list_projects", "List projects in the user's Linear workspace", "team? limit?"),
        ("create_comment", "Create a comment on a specific Linear issue", "issueId body"),
    ),
    "sentry": (
        ("search_issues", "Search for grouped issues in a Sentry organization", "organizationSlug query? limit?"),
        ("get_issue_details", "Retrieve the details of a Sentry issue, with its latest event's stack trace",
         "organizationSlug issueId"),
        ("find_projects", "Find the projects of a Sentry organization", "organizationSlug"),
        ("get_event_attachment", "Download an attachment of a Sentry event", "organizationSlug eventId attachmentId"),
    ),
    "postgres": (
        ("query", "Run a read-only SQL query", "sql"),
        ("list_tables", "List the tables of a schema", "schema?"),
        ("describe_table", "Describe a table's columns, types and indexes", "table schema?"),
    ),
    "slack": (
        ("post_message", "Post a new message to a Slack channel", "channel_id text"),
        ("list_channels", "List public channels in the workspace", "limit? cursor?"),
        ("get_channel_history", "Get recent messages from a channel", "channel_id limit?"),
        ("search_messages", "Search messages across the workspace", "query limit?"),
    ),
    "playwright": (
        ("browser_navigate", "Navigate to a URL", "url"),
        ("browser_snapshot", "Capture accessibility snapshot of the current page", ""),
        ("browser_click", "Perform click on a web page", "element ref"),
        ("browser_type", "Type text into editable element", "element ref text submit?"),
        ("browser_take_screenshot", "Take a screenshot of the current page", "filename? fullPage?"),
        ("browser_wait_for", "Wait for text to appear or disappear or a specified time to pass", "text? time?"),
        ("browser_resize", "Resize the browser window", "width height"),
        ("browser_close", "Close the page", ""),
    ),
    "context7": (
        ("resolve-library-id", "Resolves a package name to a Context7-compatible library ID", "libraryName"),
        ("get-library-docs", "Fetches up-to-date documentation for a library", "context7CompatibleLibraryID topic?"),
    ),
    "datadog": (
        ("query_metrics", "Query timeseries points of metrics", "query from to"),
        ("list_monitors", "List monitors, optionally filtered by name or tag", "name? tags?"),
        ("search_logs", "Search logs matching a query over a time range", "query from to limit?"),
    ),
}
_TOOLS = tuple((server, *tool) for server, tools in SERVERS.items() for tool in tools)


def _schema(parameters: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    for spec in parameters.split():
        name = spec.rstrip("?")
        properties[name] = {"type": "number" if name in _NUMBERS else "string"}
        if not spec.endswith("?"):
            required.append(name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False,
            "$schema": _SCHEMA}


def mcp_tools(count: int) -> list[dict[str, Any]]:
    """The first ``count`` MCP tool definitions, servers in a fixed order."""
    tools = []
    for index in range(count):
        server, name, description, parameters = _TOOLS[index % len(_TOOLS)]
        instance = index // len(_TOOLS)
        prefix = server if instance == 0 else f"{server}_{instance + 1}"
        tools.append({"name": f"mcp__{prefix}__{name}", "description": description,
                      "input_schema": _schema(parameters)})
    return tools
