"""The Dockerfile as Docker reads it: instructions, stages and their bases, ARG and ENV substitution.

Both builders' planners (`helpers.cache` for the classic builder, `helpers.buildkit_cache` and
`helpers.buildkit` for BuildKit) read Dockerfiles only through this module, so a rule of Docker's
parser changes here once. The rules follow moby/buildkit's ``frontend/dockerfile`` parser and its
shell lexer (``shell/lex.go``).
"""
from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+?])(?P<word>[^}]*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword, its arguments as written, and its text as the classic builder prints it."""

    keyword: str
    """Upper case: ``FROM``, ``RUN``, ``COPY`` ..."""
    rest: str
    """Everything after the keyword, continuation lines joined, outer white space removed."""
    text: str

    @property
    def flags(self) -> dict[str, str]:
        """Its leading ``--name=value`` options (``--from``, ``--chown``, ``--chmod``, ``--platform`` ...)."""
        return dict(flag(word) for word in _leading_flags(self.rest))

    @property
    def words(self) -> list[str]:
        """Its arguments after the options, split on white space (a JSON array's items, for the exec form)."""
        return self.rest.split()[len(_leading_flags(self.rest)):]


@dataclass
class Stage:
    """One ``FROM`` and the instructions after it, up to the next ``FROM``."""

    index: int
    name: str
    """The ``AS`` name, lower case, or the index as text, as ``COPY --from`` may name it."""
    base: str
    """The image (or earlier stage) it starts from, with ARGs declared before the first FROM expanded."""
    instructions: list[Instruction] = field(default_factory=list)
    earlier: tuple[str, ...] = ()
    """The names of the stages before it."""

    @property
    def from_stage(self) -> bool:
        """Whether it starts from an earlier stage of the same Dockerfile, not from an image."""
        return self.base.lower() in self.earlier

    @property
    def triggers(self) -> list[str]:
        """The instructions its ONBUILD lines leave in its image, which a stage ``FROM`` it runs first."""
        return [i.rest for i in self.instructions if i.keyword == "ONBUILD"]


def _leading_flags(rest: str) -> list[str]:
    flags = []
    for word in rest.split():
        if not word.startswith("--"):
            break
        flags.append(word)
    return flags


def flag(word: str) -> tuple[str, str]:
    name, _, value = word[2:].partition("=")
    return name, value


_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
"""A parser directive (``# escape=`` ``, ``# syntax=...``), as BuildKit's parser matches one."""
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z0-9_.-]+)\2")
"""A heredoc marker (``<<EOF``, ``<<-EOF``, ``<<"EOF"``): the lines after the instruction, up to the word alone on a
line, are part of it (RUN, COPY and ADD, with BuildKit's Dockerfile frontend 1.4 and later)."""


def escape_of(dockerfile: str) -> str:
    """The escape character, which also continues a line: ``\\``, or what an ``# escape=`` parser directive at
    the top of the Dockerfile sets (`` ` ``); directives end at the first line that is not one."""
    for line in dockerfile.splitlines():
        directive = _DIRECTIVE.fullmatch(line.strip())
        if directive is None:
            break
        if directive[1].lower() == "escape" and directive[2] in ("`", "\\"):
            return directive[2]
    return "\\"


def instructions(dockerfile: str, escape: str | None = None) -> list[str]:
    """The Dockerfile's instructions as the builders read them: comments dropped, lines ending in the escape
    character (``escape``, else `escape_of` the text) joined, and the heredocs a RUN, COPY or ADD line opens kept
    with it, each body and its closing word on lines of their own."""
    return [text for text, _ in _instruction_lines(dockerfile, escape)]


def _instruction_lines(dockerfile: str, escape: str | None = None) -> list[tuple[str, int]]:
    """`instructions`, each with the number (from 0) of the line its first line ends on (before any heredoc)."""
    found, pending, escape = [], "", escape or escape_of(dockerfile)
    lines = iter(enumerate(dockerfile.splitlines()))
    number = -1
    for number, line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith(escape):
            pending += line.rstrip()[:-1]
            continue
        text = (pending + line).strip()
        pending, ends = "", number
        for strip_tabs, word in heredoc_ends(text):
            for _, body in lines:
                text += "\n" + body
                if closes(body, strip_tabs, word):
                    break
        found.append((text, ends))
    return found + ([(pending.strip(), number)] if pending.strip() else [])


def named(dockerfile: str, names: dict[int, str]) -> str:
    """The Dockerfile with the stage of each index in ``names`` named so (``FROM base AS name``), every other byte
    as it was: BuildKit builds a stage alone (``--target``) only by its name."""
    lines = dockerfile.splitlines(keepends=True)
    froms = [ends for text, ends in _instruction_lines(dockerfile) if keyword(text) == "FROM"]
    for index, name in names.items():
        line = lines[froms[index]]
        body = line.rstrip("\r\n")
        lines[froms[index]] = f"{body.rstrip()} AS {name}{line[len(body):]}"
    return "".join(lines)


def heredoc_ends(instruction: str) -> list[tuple[bool, str]]:
    """The heredocs a RUN, COPY or ADD instruction's line opens, in order: whether ``<<-`` strips the body's
    leading tabs, and the word that closes it."""
    if keyword(instruction) not in ("RUN", "COPY", "ADD"):
        return []
    return [(bool(dash), word) for dash, _, word in _HEREDOC.findall(instruction.split("\n", 1)[0])]


def closes(line: str, strip_tabs: bool, word: str) -> bool:
    """Whether ``line`` closes a heredoc ended by ``word``."""
    return (line.lstrip("\t") if strip_tabs else line) == word


def keyword(instruction: str) -> str:
    """The upper-case keyword of an instruction's text (``""`` for an empty one)."""
    return instruction.split(None, 1)[0].upper() if instruction.strip() else ""


def rest(instruction: str) -> str:
    """An instruction's text after its keyword."""
    parts = instruction.strip().split(None, 1)
    return parts[1].strip() if len(parts) == 2 else ""


def parse(dockerfile: str) -> list[Instruction]:
    """Every instruction of a Dockerfile, in order."""
    return [Instruction(keyword(text), rest(text), text) for text in instructions(dockerfile)]


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH both builders give a stage whose base image sets none (moby's ``system.DefaultPathEnv``)."""


def variables(text: str) -> set[str]:
    """The names of the variables ``text`` refers to (``$A``, ``${B:-x}``)."""
    return {m["braced"] or m["bare"] for m in _VARIABLE.finditer(text)}


def heredoc(word: str) -> re.Match | None:
    """The marker a COPY/ADD source or a RUN word opens a heredoc with (group 2: its quote, if any), or None."""
    return _HEREDOC.fullmatch(word)


def mounts(rest: str) -> list[dict[str, str]]:
    """A RUN's ``--mount`` options, each as its ``key=value`` fields (``type`` is ``bind`` where none is given)."""
    found = []
    for word in _leading_flags(rest.split("\n", 1)[0]):
        name, value = flag(word)
        if name == "mount":
            fields = dict(part.partition("=")[::2] for part in value.split(",") if part)
            found.append({"type": "bind", **fields})
    return found


def copy_arguments(rest: str) -> tuple[dict[str, str], list[str], str]:
    """A COPY/ADD's flags (``--chown=...``), sources and destination, in shell or JSON form (its first line: a
    heredoc's body follows it)."""
    rest = rest.split("\n", 1)[0]
    flags = _leading_flags(rest)
    words = rest.split()[len(flags):]
    if " ".join(words).startswith("["):
        with contextlib.suppress(ValueError):
            words = json.loads(" ".join(words))
    return dict(map(flag, flags)), words[:-1], words[-1] if words else ""


def expand(word: str, env: dict[str, str | None], escape: str = "\\") -> str:
    """``word`` with ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alternative}`` (and their forms
    without ``:``) replaced from ``env``, as Docker's lexer does; an escaped ``$`` (``\\$``, or with the
    Dockerfile's own ``escape``) stays a literal ``$``, and nothing is expanded inside single quotes. A variable
    that is unset (or declared without a value) expands to nothing.
    """
    out, i = [], 0
    quoted = False
    while i < len(word):
        char = word[i]
        if char == escape and i + 1 < len(word) and not quoted:
            out.append(word[i:i + 2])
            i += 2
            continue
        if char == "'":
            quoted = not quoted
        if char == "$" and not quoted and (m := _VARIABLE.match(word, i)):
            out.append(_value(m, env))
            i = m.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def process_word(word: str, env: dict[str, str | None], escape: str = "\\") -> str:
    """One word as Docker's lexer hands it to an instruction: variables expanded (not inside single quotes),
    quotes removed, the escape character (a backslash, or the Dockerfile's ``# escape=``) escaping the next
    character (outside single quotes)."""
    out, i, quote = [], 0, ""
    while i < len(word):
        char = word[i]
        if quote != "'" and char == escape and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif char in "'\"" and quote in ("", char):
            quote = "" if quote else char
            i += 1
        elif quote != "'" and char == "$" and (m := _VARIABLE.match(word, i)):
            out.append(_value(m, env))
            i = m.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _words(text: str, escape: str = "\\") -> list[str]:
    """``text`` split on white space outside quotes, quotes and escapes kept (the lexer removes them later)."""
    words, current, quote, i = [], "", "", 0
    while i < len(text):
        char = text[i]
        if char == escape and quote != "'" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        if char.isspace() and not quote:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
        i += 1
    return words + ([current] if current else [])


def pairs(rest: str, env: dict[str, str | None], escape: str = "\\") -> list[tuple[str, str]]:
    """The ``key=value`` pairs of an ENV or LABEL line, expanded as the classic builder does; the old form
    ``ENV NAME value words`` is one pair."""
    words = _words(rest, escape)
    if words and "=" not in words[0]:
        value = rest.split(None, 1)[1] if len(words) > 1 else ""
        return [(process_word(words[0], env, escape), process_word(value, env, escape))]
    found = []
    for word in words:
        key, _, value = word.partition("=")
        found.append((process_word(key, env, escape), process_word(value, env, escape)))
    return found


def _value(m: re.Match, env: dict[str, str | None]) -> str:
    name = m["braced"] or m["bare"]
    value, op, word = env.get(name), m["op"], m["word"] or ""
    present = value is not None and (value != "" or not (op or "").startswith(":"))
    if op in (":-", "-"):
        return value if present else word
    if op in (":+", "+"):
        return word if present else ""
    return value or ""


def declare(rest: str, into: dict[str, str | None], values: dict[str, str] | None = None,
            inherited: dict[str, str | None] | None = None, escape: str = "\\") -> None:
    """Add the names an ``ARG`` line declares to ``into``: the build-arg value if one is given, else its
    default (expanded from what is declared so far), else, for a name an ARG before the first FROM declared
    (``inherited``, see `meta_args`), that one's value, as a stage's ``ARG NAME`` takes it; else None."""
    for word in rest.split():
        name, has_default, default = word.partition("=")
        if values and name in values:
            into[name] = values[name]
        else:
            into[name] = expand(default, into, escape) if has_default else into.get(name, (inherited or {}).get(name))


def arg_values(args: dict[str, str], declared: dict[str, str | None]) -> dict[str, str]:
    """The declared ARGs that have a value: the build-arg given, else the default."""
    return {k: args.get(k, v) for k, v in declared.items() if args.get(k, v) is not None}


def meta_args(dockerfile: str, args: dict[str, str] | None = None) -> dict[str, str | None]:
    """The ARGs declared before the first FROM, with ``args`` overriding their defaults: what FROM lines see,
    and what a stage's ``ARG NAME`` without a default takes."""
    meta: dict[str, str | None] = {}
    for instruction in preamble(dockerfile):
        if instruction.keyword == "ARG":
            declare(instruction.rest, meta, args, escape=escape_of(dockerfile))
    return meta


def copied_images(dockerfile: str, args: dict[str, str] | None = None) -> list[str]:
    """The images a COPY or ADD copies ``--from`` (a name no stage before it has), as written."""
    found, names = [], set()
    for stage in stages(dockerfile, args):
        names |= {stage.name, str(stage.index)}
        for instruction in stage.instructions[1:]:
            origin = copy_arguments(instruction.rest)[0].get("from", "") \
                if instruction.keyword in ("COPY", "ADD") else ""
            if origin and origin.lower() not in names and "$" not in origin and origin not in found:
                found.append(origin)
    return found


def stages(dockerfile: str, args: dict[str, str] | None = None) -> list[Stage]:
    """The Dockerfile's stages; ARGs before the first FROM (with ``args`` overriding their defaults)
    are expanded in each FROM, as Docker does, and are the only ones a FROM sees."""
    meta = meta_args(dockerfile, args)
    found: list[Stage] = []
    for instruction in parse(dockerfile):
        if instruction.keyword == "FROM":
            words = instruction.words
            name = words[2].lower() if len(words) > 2 and words[1].upper() == "AS" else str(len(found))
            base = expand(words[0], meta, escape_of(dockerfile)) if words else ""
            found.append(Stage(len(found), name, base, [instruction], tuple(s.name for s in found)))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def run_first(stage: Stage, stages: list[Stage], images: dict[str, list[str]]) -> list[str]:
    """The ONBUILD triggers ``stage`` runs first, inside its FROM: those the earlier stage it starts from leaves, or
    those its base image carries (``images``, by name)."""
    if stage.from_stage:
        return next(s for s in stages if stage.base.lower() in (s.name, str(s.index))).triggers
    return list(images.get(stage.base) or [])


def needed(stages: list[Stage]) -> set[int]:
    """The indexes of the stages the last one needs: it, and those it (or a stage it needs) starts FROM, copies
    ``--from`` or mounts ``from``; BuildKit builds no other."""
    found = {len(stages) - 1}
    names = {n: s.index for s in stages for n in (s.name, str(s.index))}
    for stage in reversed(stages):
        if stage.index in found:
            found |= {names[n] for n in _stages_named(stage) if n in names}
    return found


def _stages_named(stage: Stage) -> set[str]:
    """The names (lower case) a stage's FROM, ``COPY --from`` and ``RUN --mount from`` give."""
    named = {stage.base.lower()}
    for i in stage.instructions[1:]:
        named |= {i.flags["from"].lower()} if i.keyword in ("COPY", "ADD") and "from" in i.flags else set()
        named |= {m["from"].lower() for m in mounts(i.rest) if "from" in m} if i.keyword == "RUN" else set()
    return named


def preamble(dockerfile: str) -> list[Instruction]:
    """The instructions before the first FROM (ARGs that FROM lines may use)."""
    found = []
    for instruction in parse(dockerfile):
        if instruction.keyword == "FROM":
            break
        found.append(instruction)
    return found


def base_image(dockerfile: str, args: dict[str, str] | None = None) -> str:
    """The image the first stage starts ``FROM``."""
    found = stages(dockerfile, args)
    return found[0].base if found else ""
