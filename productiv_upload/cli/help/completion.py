"""Static completion scripts for bash, zsh and fish, written from the command model.

Each script holds every command and option, so a Tab runs no Python at all (starting the CLI
to ask it costs a quarter of a second, and a Tab slower than a tenth feels broken). Paths are
completed by the shell itself. Options are classed by what they are declared to take, not by
the framework's type inference: a flag takes nothing, a FILE or PATH metavar takes files, DIR
takes directories, and any other metavar takes a value the shell cannot guess.

    python -m productiv_upload.cli.help.completion bash > completions/productiv-upload.bash
"""

from __future__ import annotations

import sys

from productiv_upload.cli.help.model import PROG, CommandModel, Takes, walk

FUNCTION = "_productiv_upload"


def _description(text: str) -> str:
    """An option's or command's first sentence, for the shells that show one beside it."""
    first_paragraph = " ".join(text.strip().split("\n\n")[0].split())
    return first_paragraph.split(". ")[0].rstrip(".")


def _name(command: CommandModel) -> str:
    return command["words"][-1]


def _arguments(command: CommandModel) -> Takes:
    """What the command's positional arguments complete to."""
    return command["arguments"][0]["takes"] if command["arguments"] else "nothing"


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


def bash_script(model: CommandModel) -> str:
    cases = []
    for command in walk(model):
        by_kind: dict[Takes, list[str]] = {"nothing": [], "value": [], "files": [], "dirs": []}
        for option in command["options"]:
            by_kind[option["takes"]].extend(option["names"])
        words = " ".join(command["words"])
        subcommands = " ".join(_name(sub) for sub in command["commands"])
        flags, values = " ".join(by_kind["nothing"]), " ".join(by_kind["value"])
        files, dirs = " ".join(by_kind["files"]), " ".join(by_kind["dirs"])
        cases.append(
            f'        "{words}")\n'
            f'            commands="{subcommands}"\n'
            f'            flags="{flags}"\n'
            f'            values="{values}"\n'
            f'            files="{files}"\n'
            f'            dirs="{dirs}"\n'
            f'            arguments="{_arguments(command)}" ;;'
        )
    spec = f"{FUNCTION}_spec() {{\n    case $1 in\n" + "\n".join(cases) + "\n    esac\n}\n"
    return _header("#") + spec + "\n" + _BASH_BODY.format(function=FUNCTION, prog=PROG)


# zsh ---------------------------------------------------------------------------------------------

_ZSH_ACTIONS: dict[Takes, str] = {
    "nothing": "",
    "value": ":value: ",
    "files": ":file:_files",
    "dirs": ":directory:_files -/",
}


def zsh_script(model: CommandModel) -> str:
    functions = [_zsh_function(command) for command in walk(model)]
    return f"#compdef {PROG}\n" + _header("#") + "\n".join(functions) + f'\n{FUNCTION} "$@"\n'


def _zsh_function(command: CommandModel) -> str:
    name = "_".join((FUNCTION, *command["words"])).replace("-", "_")
    specs = []
    for option in command["options"]:
        names = option["names"]
        exclusive = f"({' '.join(names)})" if len(names) > 1 else ""
        star = "*" if option["repeatable"] else ""
        described, action = _zsh_quote(_description(option["help"])), _ZSH_ACTIONS[option["takes"]]
        for flag in names:
            specs.append(f"'{exclusive}{star}{flag}[{described}]{action}'")
    lines = [f"{name}() {{", "    local curcontext=$curcontext state line", "    _arguments -C \\"]
    lines += [f"        {spec} \\" for spec in specs]
    if command["commands"]:
        lines += ["        '1: :->command' \\", "        '*:: :->argument'"]
        lines += ["    case $state in", "        command)", "            local -a commands=("]
        lines += [
            f"                '{_name(sub)}:{_zsh_quote(_description(sub['help']))}'"
            for sub in command["commands"]
        ]
        lines += [
            "            )",
            "            _describe command commands ;;",
            "        argument)",
            "            case $line[1] in",
        ]
        for sub in command["commands"]:
            sub_name = "_".join((FUNCTION, *sub["words"])).replace("-", "_")
            lines.append(f"                {_name(sub)}) {sub_name} ;;")
        lines += ["            esac ;;", "    esac"]
    elif _arguments(command) == "files":
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


def fish_script(model: CommandModel) -> str:
    lines = [f"complete --command {PROG} --no-files"]
    for command in walk(model):
        condition = _fish_condition(command)
        for sub in command["commands"]:
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} "
                f"--arguments {_name(sub)} --description {_fish_quote(_description(sub['help']))}"
            )
        for option in command["options"]:
            names = " ".join(
                f"--long-option {name[2:]}"
                if name.startswith("--")
                else f"--short-option {name[1:]}"
                for name in option["names"]
            )
            takes = {
                "nothing": "",
                "value": " --require-parameter",
                "files": " --require-parameter --force-files",
                "dirs": " --require-parameter --force-files",
            }[option["takes"]]
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} {names}{takes} "
                f"--description {_fish_quote(_description(option['help']))}"
            )
        if _arguments(command) == "files":
            lines.append(
                f"complete --command {PROG} --condition {_fish_quote(condition)} --force-files"
            )
    return _header("#") + "\n".join(lines) + "\n"


def _fish_condition(command: CommandModel) -> str:
    if not command["words"]:
        return "__fish_use_subcommand"
    condition = f"__fish_seen_subcommand_from {_name(command)}"
    if command["commands"]:
        subcommands = " ".join(_name(sub) for sub in command["commands"])
        condition += f"; and not __fish_seen_subcommand_from {subcommands}"
    return condition


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -------------------------------------------------------------------------------------------------

SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def _header(comment: str) -> str:
    return (
        f"{comment} {PROG} completion, generated from the command model by\n"
        f"{comment} `python -m productiv_upload.cli.help.completion SHELL`: "
        "do not edit by hand.\n\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SCRIPTS:
        print(
            f"usage: python -m productiv_upload.cli.help.completion {{{','.join(SCRIPTS)}}}",
            file=sys.stderr,
        )
        return 2
    from productiv_upload.cli.app import app
    from productiv_upload.cli.help.model import from_app

    sys.stdout.write(SCRIPTS[argv[0]](from_app(app)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
