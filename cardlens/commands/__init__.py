"""CLI subcommands that belong to no single subpackage, and the shared placeholder for unfinished ones."""

from __future__ import annotations


def register_pending(subparsers, name: str, command: str, help_text: str, issue: str) -> None:
    """A parser for a (sub)command whose issue has not landed: it accepts anything and exits 2 saying so."""
    from cardlens.errors import NotAvailableError

    p = subparsers.add_parser(name, help=f"{help_text} (not available yet: {issue})", description=help_text)

    def run(args) -> int:
        raise NotAvailableError(f"'cardlens {command}' is not available yet: it lands with issue {issue}")

    p.set_defaults(func=run, accepts_extra=True)
