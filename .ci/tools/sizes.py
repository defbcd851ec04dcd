#!/usr/bin/env python3
"""Reports hand-written Rust source files over 600 lines (not counting a trailing
`#[cfg(test)]` module) and functions over 100 lines, under the given folders (default:
crates). Exit 1 when anything is over. Test files (tests/, *tests.rs, benches) are skipped."""
import os, re, sys

FILE_MAX, FN_MAX = 600, 100
FN = re.compile(r'^\s*(pub(\([a-z]+\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')

def strip_strings(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split('//')[0]

def check(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    body = len(lines)
    for i, l in enumerate(lines):
        if l.startswith('#[cfg(test)]'):
            body = i
            break
    out = []
    if body > FILE_MAX:
        out.append(f'{path}: {body} lines')
    i = 0
    while i < body:
        m = FN.match(lines[i])
        if m:
            depth, started, j = 0, False, i
            while j < len(lines):
                s = strip_strings(lines[j])
                if not started and ';' in s and '{' not in s:
                    break
                depth += s.count('{') - s.count('}')
                if '{' in s:
                    started = True
                if started and depth <= 0:
                    break
                j += 1
            n = j - i + 1
            if started and n > FN_MAX:
                out.append(f'{path}:{i+1}: fn {m.group(6)} {n} lines')
        i += 1
    return out

def main():
    roots = sys.argv[1:] or ['crates']
    found = []
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in ('target', 'tests', 'benches', 'node_modules')]
            for f in files:
                if f.endswith('.rs') and not f.endswith('tests.rs') and f != 'tests.rs':
                    found += check(os.path.join(d, f))
    print('\n'.join(sorted(found)))
    sys.exit(1 if found else 0)

main()
