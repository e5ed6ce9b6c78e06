"""Static completion scripts for bash, zsh and fish, written from the command model.

Each script holds every command and option, so a Tab runs no Python at all (starting the CLI
to ask it costs a quarter of a second, and a Tab slower than a tenth feels broken). Paths are
completed by the shell itself. Options are classed by what they are declared to take, not by
the framework's type inference: a flag takes nothing, a FILE or PATH metavar takes files, DIR
takes directories, and any other metavar takes a value the shell cannot guess.

    python -m productiv_upload.cli.completion bash > completions/productiv-upload.bash
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

PROG = "productiv-upload"
FUNCTION = "_productiv_upload"
HELP_NAMES = ("-h", "--help")

Takes = Literal["nothing", "value", "files", "dirs"]


@dataclass(frozen=True)
class OptionSpec:
    names: tuple[str, ...]
    help: str
    takes: Takes
    repeatable: bool


@dataclass(frozen=True)
class CommandSpec:
    words: tuple[str, ...]  # the command's words after the program name: () for the program
    help: str
    options: tuple[OptionSpec, ...]
    commands: tuple[CommandSpec, ...]
    arguments: Takes  # what positional arguments complete to

    def walk(self) -> list[CommandSpec]:
        return [self, *(spec for command in self.commands for spec in command.walk())]


def command_model() -> CommandSpec:
    """The program's commands and options, read from the typer app."""
    import typer.main

    from productiv_upload.cli.app import app

    return _command_spec(typer.main.get_command(app), ())


def _command_spec(command: Any, words: tuple[str, ...]) -> CommandSpec:
    options = [_option_spec(param) for param in command.params if _shown(param, "option")]
    options.append(OptionSpec(HELP_NAMES, "Show this message and exit", "nothing", False))
    arguments = [_takes(param) for param in command.params if _shown(param, "argument")]
    subcommands = getattr(command, "commands", {})
    return CommandSpec(
        words=words,
        help=_first_sentence(command.help or ""),
        options=tuple(options),
        commands=tuple(
            _command_spec(sub, (*words, name))
            for name, sub in subcommands.items()
            if not sub.hidden
        ),
        arguments=arguments[0] if arguments else "nothing",
    )


def _shown(param: Any, kind: str) -> bool:
    # Arguments are hidden from the help's table (the command's text explains them), not from Tab.
    return bool(param.param_type_name == kind and (kind == "argument" or not param.hidden))


def _option_spec(param: Any) -> OptionSpec:
    return OptionSpec(
        names=(*param.opts, *param.secondary_opts),
        help=_first_sentence(param.help or ""),
        takes=_takes(param),
        repeatable=bool(param.multiple),
    )


def _takes(param: Any) -> Takes:
    if getattr(param, "is_flag", False):
        return "nothing"
    metavar = (param.metavar or "").strip("[]. ")
    if metavar == "DIR":
        return "dirs"
    if metavar in ("FILE", "PATH"):
        return "files"
    return "value"


def _first_sentence(text: str) -> str:
    first_paragraph = " ".join(text.strip().split("\n\n")[0].split())
    return first_paragraph.split(". ")[0].rstrip(".")


# bash --------------------------------------------------------------------------------------------

_BASH_BODY = """\
{function}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev="" command="" i word
    [[ $COMP_CWORD -gt 0 ]] && prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local commands flags values files dirs arguments
    {function}_spec ""
    # Find the command, skipping options and the values they take.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        if [[ " $values $files $dirs " == *" $word "* ]]; then
            ((i++))
        elif [[ $word != -* && " $commands " == *" $word "* ]]; then
            command="${{command:+$command }}$word"
            {function}_spec "$command"
        fi
    done
    # `--option=value`: bash splits the word at `=`.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -gt 1 ]]; then
        prev=${{COMP_WORDS[COMP_CWORD-2]}}
    fi
    local IFS=$'\\n'
    if [[ " $files " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ " $dirs " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
    elif [[ " $values " == *" $prev "* ]]; then
        COMPREPLY=()
    elif [[ $cur == -* ]]; then
        IFS=$' \\t\\n'
        COMPREPLY=($(compgen -W "$flags $values $files $dirs" -- "$cur"))
    elif [[ -n $commands ]]; then
        IFS=$' \\t\\n'
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    elif [[ $arguments == files ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=()
    fi
}}

complete -F {function} {prog}
"""


def bash_script(model: CommandSpec) -> str:
    cases = []
    for command in model.walk():
        by_kind: dict[Takes, list[str]] = {"nothing": [], "value": [], "files": [], "dirs": []}
        for option in command.options:
            by_kind[option.takes].extend(option.names)
        cases.append(
            f'        "{" ".join(command.words)}")\n'
            f'            commands="{" ".join(sub.words[-1] for sub in command.commands)}"\n'
            f'            flags="{" ".join(by_kind["nothing"])}"\n'
            f'            values="{" ".join(by_kind["value"])}"\n'
            f'            files="{" ".join(by_kind["files"])}"\n'
            f'            dirs="{" ".join(by_kind["dirs"])}"\n'
            f'            arguments="{command.arguments}" ;;'
        )
    spec = f"{FUNCTION}_spec() {{\n    case $1 in\n" + "\n".join(cases) + "\n    esac\n}\n"
    return _header("#") + spec + "\n" + _BASH_BODY.format(function=FUNCTION, prog=PROG)


# zsh ---------------------------------------------------------------------------------------------

_ZSH_ACTIONS: dict[Takes, str] = {"nothing": "", "value": ":value: ", "files": ":file:_files",
                                  "dirs": ":directory:_files -/"}  # fmt: skip


def zsh_script(model: CommandSpec) -> str:
    functions = [_zsh_function(command) for command in model.walk()]
    return f"#compdef {PROG}\n" + _header("#") + "\n".join(functions) + f'\n{FUNCTION} "$@"\n'


def _zsh_function(command: CommandSpec) -> str:
    name = "_".join((FUNCTION, *command.words)).replace("-", "_")
    specs = []
    for option in command.options:
        exclusive = f"({' '.join(option.names)})" if len(option.names) > 1 else ""
        star = "*" if option.repeatable else ""
        for flag in option.names:
            spec = f"{exclusive}{star}{flag}[{_zsh_quote(option.help)}]{_ZSH_ACTIONS[option.takes]}"
            specs.append(f"'{spec}'")
    lines = [f"{name}() {{", "    local curcontext=$curcontext state line", "    _arguments -C \\"]
    lines += [f"        {spec} \\" for spec in specs]
    if command.commands:
        lines += ["        '1: :->command' \\", "        '*:: :->argument'"]
        lines += ["    case $state in", "        command)", "            local -a commands=("]
        lines += [f"                '{sub.words[-1]}:{_zsh_quote(sub.help)}'" for sub in
                  command.commands]  # fmt: skip
        lines += ["            )", "            _describe command commands ;;", "        argument)",
                  "            case $line[1] in"]  # fmt: skip
        for sub in command.commands:
            sub_name = "_".join((FUNCTION, *sub.words)).replace("-", "_")
            lines.append(f"                {sub.words[-1]}) {sub_name} ;;")
        lines += ["            esac ;;", "    esac"]
    elif command.arguments == "files":
        lines.append("        '*:path:_files'")
    else:
        lines[-1] = lines[-1].removesuffix(" \\")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _zsh_quote(text: str) -> str:
    # Inside '...' of an _arguments spec: brackets and colons are syntax, a quote ends the string.
    for char in "\\[]:":
        text = text.replace(char, "\\" + char)
    return text.replace("'", "'\\''")


# fish --------------------------------------------------------------------------------------------


def fish_script(model: CommandSpec) -> str:
    lines = [f"complete --command {PROG} --no-files"]
    for command in model.walk():
        condition = _fish_condition(command)
        for sub in command.commands:
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} "
                f"--arguments {sub.words[-1]} --description {_fish_quote(sub.help)}"
            )
        for option in command.options:
            names = " ".join(
                f"--long-option {name[2:]}"
                if name.startswith("--")
                else f"--short-option {name[1:]}"
                for name in option.names
            )
            takes = {"nothing": "", "value": " --require-parameter",
                     "files": " --require-parameter --force-files",
                     "dirs": " --require-parameter --force-files"}[option.takes]  # fmt: skip
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} {names}{takes} "
                f"--description {_fish_quote(option.help)}"
            )
        if command.arguments == "files":
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} --force-files"
            )
    return _header("#") + "\n".join(lines) + "\n"


def _fish_condition(command: CommandSpec) -> str:
    if not command.words:
        return "__fish_use_subcommand"
    condition = f"__fish_seen_subcommand_from {command.words[-1]}"
    if command.commands:
        subcommands = " ".join(sub.words[-1] for sub in command.commands)
        condition += f"; and not __fish_seen_subcommand_from {subcommands}"
    return condition


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -------------------------------------------------------------------------------------------------

SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def _header(comment: str) -> str:
    return (
        f"{comment} {PROG} completion, generated from the command model by\n"
        f"{comment} `python -m productiv_upload.cli.completion SHELL`: do not edit by hand.\n\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SCRIPTS:
        print(f"usage: python -m productiv_upload.cli.completion {{{','.join(SCRIPTS)}}}",
              file=sys.stderr)  # fmt: skip
        return 2
    sys.stdout.write(SCRIPTS[argv[0]](command_model()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
