"""Third-party libraries that echo the text they draw, send or decode into their warnings and logs.

Logs carry no names, texts or ids of people (README), but these would put owners' text there:
- matplotlib warns "Glyph 78048 (\\N{EGYPTIAN HIEROGLYPH E013}) missing from font(s) DejaVu Sans." for
  each character of a pet's name the font lacks (the chart's title);
- fpdf2 warns "Font ... is missing the following glyphs: '𓃠' (\\U000130e0)" (the PDF record), and the
  fontTools subsetter under it lists at INFO the glyphs used, "uni041C", "u1F431"...: the text, letter
  by letter;
- Pillow's TIFF/EXIF reader logs every tag's value at DEBUG: the Artist, the description, GPS of a photo;
- python-telegram-bot logs every Bot API call with its parameters (the texts sent) at DEBUG, and httpx
  each request's URL, which holds the bot's token, at INFO.

`keep_owner_text_out_of_logs()` silences exactly those: it is applied when `shared` is imported, and
again by the adapters that render or decode owners' data right before they do (a warnings filter set
earlier can be overridden, e.g. by `warnings.simplefilter("always")`). Levels are only ever raised.
"""
from __future__ import annotations

import logging
import warnings

_WARNINGS = (r"Glyph \d+ \(.*\) missing from (current )?font", r"Matplotlib currently does not support .* natively")
_LEVELS = {
    "fpdf": logging.ERROR,
    "fontTools": logging.ERROR,
    "PIL": logging.INFO,
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
}


def keep_owner_text_out_of_logs() -> None:
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
    for name, level in _LEVELS.items():
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
