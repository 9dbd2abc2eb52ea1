"""Clean-text convention used by the policyset (see README.md)."""
import re

def strip_front_matter(text):
    if text.startswith('---'):
        end = text.find('\n---', 3)
        if end != -1:
            nl = text.find('\n', end + 1)
            return text[nl + 1:] if nl != -1 else ''
    return text

def clean(text):
    t = strip_front_matter(text)
    t = re.sub(r'<[^>]*>', '', t)                  # inline HTML tags
    t = re.sub(r'\\([!-/:-@\[-`{-~])', r'\1', t)  # backslash before punctuation
    t = t.replace('*', '')                          # bold/italic markers
    t = re.sub(r'\s+', ' ', t).strip()              # all whitespace incl. newlines
    return t
