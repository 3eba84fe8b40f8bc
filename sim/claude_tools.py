"""The tool definitions a Claude Code CLI sends, with JSON schemas shaped like its real ones.

Descriptions are a real-sounding first line plus deterministic filler up to a target size: the real
ones are long (the Bash tool's runs to several KB) and their size is what makes bodies heavy. They
depend only on the CLI version seed, so every request of a fleet shares them, as in production,
which is what the prompt-cache simulation keys on. Past the core tools come MCP servers' tools
(sim.mcp_tools), as when a project configures servers.
"""

from __future__ import annotations

import random
from typing import Any

from sim.mcp_tools import mcp_tools

_SCHEMA = "http://json-schema.org/draft-07/schema#"
_VOCABULARY = (
    "file path directory command output result pattern search match line offset limit content "
    "string number boolean option usage note always never prefer avoid tool agent task user project "
    "repository branch commit test build error warning timeout background shell process edit write"
)


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def _boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def _nested(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A tool's top-level input schema (only the top level names the draft, as zod-to-json-schema does)."""
    return {**_nested(properties, required), "$schema": _SCHEMA}


_TODO_ITEM = _nested(
    {
        "content": _string("The imperative form of the task", minLength=1),
        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
        "activeForm": _string("The present continuous form of the task", minLength=1),
    },
    ["content", "status", "activeForm"],
)
_QUESTION = _nested(
    {
        "question": _string("The complete question to ask the user"),
        "header": _string("Very short label displayed as a chip"),
        "options": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": _nested({"label": _string("Option label"), "description": _string("Meaning")}, ["label"]),
        },
        "multiSelect": _boolean("Allow several answers"),
    },
    ["question", "header", "options", "multiSelect"],
)

# (name, first line of the description, input schema)
TOOL_SPECS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Task", "Launch a new agent to handle complex, multi-step tasks autonomously.", _object(
        {"description": _string("A short (3-5 word) description of the task"),
         "prompt": _string("The task for the agent to perform"),
         "subagent_type": _string("The type of specialized agent to use for this task")},
        ["description", "prompt", "subagent_type"])),
    ("Bash", "Executes a given bash command in a persistent shell session with optional timeout.", _object(
        {"command": _string("The command to execute"),
         "timeout": _number("Optional timeout in milliseconds (max 600000)"),
         "description": _string("Clear, concise description of what this command does in 5-10 words"),
         "run_in_background": _boolean("Set to true to run this command in the background"),
         "dangerouslyDisableSandbox": _boolean("Set this to true to override sandbox mode")},
        ["command"])),
    ("Glob", "Fast file pattern matching tool that works with any codebase size.", _object(
        {"pattern": _string("The glob pattern to match files against"),
         "path": _string("The directory to search in. Defaults to the current working directory.")},
        ["pattern"])),
    ("Grep", "A powerful search tool built on ripgrep.", _object(
        {"pattern": _string("The regular expression pattern to search for in file contents"),
         "path": _string("File or directory to search in"),
         "glob": _string("Glob pattern to filter files (e.g. \"*.js\")"),
         "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
         "-B": _number("Number of lines to show before each match"),
         "-A": _number("Number of lines to show after each match"),
         "-C": _number("Number of lines to show before and after each match"),
         "-n": _boolean("Show line numbers in output"),
         "-i": _boolean("Case insensitive search"),
         "type": _string("File type to search (rg --type)"),
         "head_limit": _number("Limit output to first N lines/entries"),
         "multiline": _boolean("Enable multiline mode")},
        ["pattern"])),
    ("ExitPlanMode", "Use this tool when you are in plan mode and have finished presenting your plan.", _object(
        {"plan": _string("The plan you came up with, that you want to run by the user for approval")},
        ["plan"])),
    ("Read", "Reads a file from the local filesystem.", _object(
        {"file_path": _string("The absolute path to the file to read"),
         "offset": _number("The line number to start reading from"),
         "limit": _number("The number of lines to read")},
        ["file_path"])),
    ("Edit", "Performs exact string replacements in files.", _object(
        {"file_path": _string("The absolute path to the file to modify"),
         "old_string": _string("The text to replace"),
         "new_string": _string("The text to replace it with (must be different from old_string)"),
         "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurrences"}},
        ["file_path", "old_string", "new_string"])),
    ("Write", "Writes a file to the local filesystem.", _object(
        {"file_path": _string("The absolute path to the file to write (must be absolute, not relative)"),
         "content": _string("The content to write to the file")},
        ["file_path", "content"])),
    ("NotebookEdit", "Completely replaces the contents of a specific cell in a Jupyter notebook.", _object(
        {"notebook_path": _string("The absolute path to the Jupyter notebook file to edit"),
         "cell_id": _string("The ID of the cell to edit"),
         "new_source": _string("The new source for the cell"),
         "cell_type": {"type": "string", "enum": ["code", "markdown"]},
         "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]}},
        ["notebook_path", "new_source"])),
    ("WebFetch", "Fetches content from a specified URL and processes it using an AI model.", _object(
        {"url": _string("The URL to fetch content from", format="uri"),
         "prompt": _string("The prompt to run on the fetched content")},
        ["url", "prompt"])),
    ("TodoWrite", "Use this tool to create and manage a structured task list for your session.", _object(
        {"todos": {"type": "array", "items": _TODO_ITEM, "description": "The updated todo list"}},
        ["todos"])),
    ("WebSearch", "Allows Claude to search the web and use the results to inform responses.", _object(
        {"query": _string("The search query to use", minLength=2),
         "allowed_domains": {"type": "array", "items": {"type": "string"}},
         "blocked_domains": {"type": "array", "items": {"type": "string"}}},
        ["query"])),
    ("BashOutput", "Retrieves output from a running or completed background bash shell.", _object(
        {"bash_id": _string("The ID of the background shell to retrieve output from"),
         "filter": _string("Optional regular expression to filter the output lines")},
        ["bash_id"])),
    ("KillShell", "Kills a running background bash shell by its ID.", _object(
        {"shell_id": _string("The ID of the background shell to kill")}, ["shell_id"])),
    ("AskUserQuestion", "Use this tool when you need to ask the user questions during execution.", _object(
        {"questions": {"type": "array", "minItems": 1, "maxItems": 4, "items": _QUESTION}}, ["questions"])),
    ("Skill", "Execute a skill within the main conversation.", _object(
        {"skill": _string("The skill name (no arguments)")}, ["skill"])),
    ("SlashCommand", "Execute a slash command within the main conversation.", _object(
        {"command": _string("The slash command to execute with its arguments")}, ["command"])),
)  # fmt: skip


def filler_text(rng: random.Random, chars: int) -> str:
    """Deterministic prose of about ``chars`` characters (whole sentences)."""
    vocabulary = _VOCABULARY.split()
    sentences = []
    size = 0
    while size < chars:
        words = [rng.choice(vocabulary) for _ in range(rng.randint(6, 14))]
        sentence = " ".join(words).capitalize() + ". "
        sentences.append(sentence)
        size += len(sentence)
    return "".join(sentences).rstrip()


def claude_code_tools(
    count: int = len(TOOL_SPECS), description_chars: int = 1500, cli_version: str = "2.1.330"
) -> list[dict[str, Any]]:
    """The first ``count`` tools, descriptions padded to ~``description_chars`` characters; beyond
    the core set, MCP tools (their own short descriptions)."""
    rng = random.Random(f"tools:{cli_version}")
    tools = []
    for name, lead, schema in TOOL_SPECS[:count]:
        usage = filler_text(rng, max(0, description_chars - len(lead)))
        tools.append({"name": name, "description": f"{lead}\n\nUsage notes:\n{usage}", "input_schema": schema})
    return tools + mcp_tools(max(0, count - len(TOOL_SPECS)))
