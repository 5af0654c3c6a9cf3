"""Redraw the sample vision data: train/data/cartoons/*.png and their captions, train/data/cartoon-captions.jsonl.

    .venv/bin/python docs/draw_cartoons.py [--out DIR]

The pictures are drawn, not downloaded, so the repo ships no image of unknown origin and anyone can see what
each one holds: a sky, a ground, a few shapes, and the scene's one-word label. Drawing is deterministic (no
randomness, Pillow's bitmap font, fixed PNG settings), so running this again rewrites the same bytes and a
changed picture in a pull request is a changed scene here. Each caption row is in Axolotl's multimodal
`messages` format: a user turn with the image and the instruction, an assistant turn with a joke about it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "train" / "data"
FOLDER = "cartoons"
CAPTIONS = "cartoon-captions.jsonl"
SIDE = 256
HORIZON = 180
INSTRUCTION = "Write a funny caption for this cartoon."

Draw = Callable[[ImageDraw.ImageDraw], None]


def sun(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((190, 20, 236, 66), fill="#ffd23f", outline="#e0a800", width=3)


def moon(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((180, 20, 226, 66), fill="#f4f1c9")
    d.ellipse((194, 14, 240, 60), fill="#1b1f4a")


def stars(d: ImageDraw.ImageDraw) -> None:
    for x, y in ((30, 30), (80, 60), (130, 25), (60, 110), (160, 90), (230, 120)):
        d.polygon([(x, y - 6), (x + 2, y - 2), (x + 6, y), (x + 2, y + 2), (x, y + 6), (x - 2, y + 2), (x - 6, y),
                   (x - 2, y - 2)], fill="#fff7a8")


def cloud(d: ImageDraw.ImageDraw) -> None:
    for box in ((30, 40, 80, 80), (60, 28, 120, 82), (100, 42, 146, 82)):
        d.ellipse(box, fill="white")


def rain(d: ImageDraw.ImageDraw) -> None:
    cloud(d)
    for x in range(40, 140, 16):
        d.line((x, 90, x - 6, 110), fill="#3a7bd5", width=3)


def house(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((40, 110, 120, 180), fill="#d9534f", outline="black", width=2)
    d.polygon([(32, 112), (80, 70), (128, 112)], fill="#6b3e26", outline="black")
    d.rectangle((70, 145, 90, 180), fill="#5b3a1a")


def tree(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((176, 130, 190, 182), fill="#6b3e26")
    d.ellipse((150, 80, 216, 144), fill="#2e8b57", outline="#1d5c39", width=2)


def cat(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((90, 130, 160, 185), fill="#f28c28", outline="black", width=2)
    d.ellipse((100, 95, 150, 140), fill="#f28c28", outline="black", width=2)
    d.polygon([(104, 106), (110, 84), (122, 100)], fill="#f28c28", outline="black")
    d.polygon([(128, 100), (140, 84), (146, 106)], fill="#f28c28", outline="black")
    d.ellipse((113, 112, 119, 118), fill="black")
    d.ellipse((131, 112, 137, 118), fill="black")


def dog(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((80, 140, 160, 175), fill="#a0522d", outline="black", width=2)
    d.ellipse((145, 110, 190, 150), fill="#a0522d", outline="black", width=2)
    d.ellipse((140, 112, 156, 140), fill="#5b3a1a")
    for x in (86, 146):
        d.rectangle((x, 175, x + 8, 185), fill="#a0522d")
    d.ellipse((168, 122, 174, 128), fill="black")


def fish(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((90, 120, 160, 160), fill="#ff7f50", outline="black", width=2)
    d.polygon([(160, 140), (185, 122), (185, 158)], fill="#ff7f50", outline="black")
    d.ellipse((104, 132, 112, 140), fill="black")


def boat(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(60, 170), (190, 170), (170, 195), (80, 195)], fill="#8b4513", outline="black")
    d.line((125, 170, 125, 90), fill="black", width=3)
    d.polygon([(127, 92), (127, 162), (180, 162)], fill="white", outline="black")


def snowman(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((90, 130, 160, 195), fill="white", outline="#9bb", width=2)
    d.ellipse((100, 90, 150, 135), fill="white", outline="#9bb", width=2)
    d.polygon([(125, 112), (145, 116), (125, 120)], fill="#ff8c00")
    d.rectangle((105, 70, 145, 92), fill="black")


def car(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((50, 140, 200, 172), fill="#1e90ff", outline="black", width=2)
    d.polygon([(80, 140), (100, 112), (160, 112), (180, 140)], fill="#87cefa", outline="black")
    for x in (70, 160):
        d.ellipse((x, 160, x + 28, 188), fill="#222")


def rocket(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((110, 80, 146, 160), fill="#e8e8e8", outline="black", width=2)
    d.polygon([(110, 80), (128, 45), (146, 80)], fill="#d9534f", outline="black")
    d.polygon([(110, 160), (95, 180), (110, 150)], fill="#d9534f")
    d.polygon([(146, 160), (161, 180), (146, 150)], fill="#d9534f")
    d.polygon([(116, 160), (128, 195), (140, 160)], fill="#ffa500")


def ghost(d: ImageDraw.ImageDraw) -> None:
    d.pieslice((90, 70, 166, 146), 180, 360, fill="white")
    d.rectangle((90, 108, 166, 170), fill="white")
    for x in range(90, 166, 19):
        d.polygon([(x, 170), (x + 9, 182), (x + 19, 170)], fill="white")
    d.ellipse((108, 100, 118, 114), fill="black")
    d.ellipse((138, 100, 148, 114), fill="black")


def cactus(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((112, 90, 140, 182), radius=12, fill="#2e8b57", outline="#1d5c39", width=2)
    d.rounded_rectangle((84, 115, 112, 130), radius=6, fill="#2e8b57")
    d.rounded_rectangle((84, 95, 98, 130), radius=6, fill="#2e8b57")
    d.rounded_rectangle((140, 125, 168, 140), radius=6, fill="#2e8b57")
    d.rounded_rectangle((154, 105, 168, 140), radius=6, fill="#2e8b57")


def pizza(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(70, 90), (190, 90), (130, 190)], fill="#f4c430", outline="#c68e17")
    d.rectangle((66, 82, 194, 96), fill="#c68e17")
    for x, y in ((110, 110), (150, 112), (130, 145)):
        d.ellipse((x - 9, y - 9, x + 9, y + 9), fill="#b22222")


def robot(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((95, 115, 160, 175), fill="#a9a9a9", outline="black", width=2)
    d.rectangle((105, 75, 150, 112), fill="#c0c0c0", outline="black", width=2)
    d.line((127, 75, 127, 60), fill="black", width=2)
    d.ellipse((122, 54, 132, 64), fill="#d9534f")
    d.rectangle((113, 86, 122, 95), fill="#00e5ff")
    d.rectangle((133, 86, 142, 95), fill="#00e5ff")


def mountain(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(20, 180), (100, 70), (180, 180)], fill="#7a7a7a", outline="black")
    d.polygon([(80, 98), (100, 70), (120, 98)], fill="white")
    d.polygon([(120, 180), (180, 100), (240, 180)], fill="#5f5f5f", outline="black")


def coffee(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((95, 110, 155, 175), fill="white", outline="black", width=2)
    d.arc((145, 122, 175, 158), -90, 90, fill="black", width=4)
    d.rectangle((99, 114, 151, 128), fill="#6f4e37")
    for x in (110, 125, 140):
        d.arc((x - 6, 80, x + 6, 108), 90, 270, fill="#999", width=2)


def duck(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((90, 140, 170, 180), fill="#ffd700", outline="black", width=2)
    d.ellipse((140, 110, 178, 148), fill="#ffd700", outline="black", width=2)
    d.polygon([(176, 126), (196, 131), (176, 136)], fill="#ff8c00")
    d.ellipse((160, 120, 166, 126), fill="black")


def balloon(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((100, 50, 150, 110), fill="#e6194b", outline="black", width=2)
    d.line((125, 110, 120, 180), fill="black", width=1)


def ufo(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(110, 100), (146, 100), (200, 150), (56, 150)], fill="#b0ffb0", outline="black")
    d.ellipse((56, 120, 200, 160), fill="#9e9e9e", outline="black", width=2)
    d.ellipse((100, 82, 156, 118), fill="#7fdbff", outline="black", width=2)


def crown(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(80, 170), (80, 110), (105, 140), (128, 95), (151, 140), (176, 110), (176, 170)], fill="#ffd700",
              outline="black")
    for x in (105, 128, 151):
        d.ellipse((x - 6, 150, x + 6, 162), fill="#e6194b")


def umbrella(d: ImageDraw.ImageDraw) -> None:
    d.pieslice((70, 80, 190, 170), 180, 360, fill="#7b3fa0", outline="black", width=2)
    d.line((130, 125, 130, 185), fill="black", width=3)
    d.arc((118, 175, 130, 195), 0, 180, fill="black", width=3)


def penguin(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((100, 90, 156, 180), fill="#222")
    d.ellipse((110, 110, 146, 176), fill="white")
    d.ellipse((116, 100, 122, 106), fill="white")
    d.ellipse((134, 100, 140, 106), fill="white")
    d.polygon([(122, 110), (134, 110), (128, 120)], fill="#ff8c00")


@dataclass(frozen=True)
class Scene:
    label: str
    sky: str
    ground: str
    things: tuple[Draw, ...]
    caption: str


SCENES = (
    Scene("cat", "#bfe6ff", "#7ec850", (sun, tree, cat),
          "I knocked the sun off the table once. It came back. Now I knock it off every morning."),
    Scene("dog", "#bfe6ff", "#7ec850", (cloud, house, dog),
          "He has guarded this house for nine years and has never once been told what from."),
    Scene("fish", "#3a7bd5", "#1e4e8c", (fish,), "Day 412 in the ocean: still no idea what 'wet' means."),
    Scene("boat", "#ffd8a8", "#3a7bd5", (sun, boat), "The captain said 'all hands on deck'. It's just me. I clapped."),
    Scene("snow", "#dfe9f3", "#ffffff", (cloud, snowman),
          "Frosty went to therapy. Turns out he has a lot of melt-downs."),
    Scene("car", "#bfe6ff", "#555555", (sun, car),
          "Zero to sixty in eight seconds. Sixty back to zero in one pothole."),
    Scene("rocket", "#1b1f4a", "#444444", (stars, rocket),
          "Mission control said 'the sky is the limit'. We took that personally."),
    Scene("ghost", "#1b1f4a", "#2f4f2f", (moon, ghost),
          "He wanted to be a comedian, but the audience saw right through him."),
    Scene("desert", "#ffe4a8", "#e8c07d", (sun, cactus), "Need a hug? Please take a number and a pair of pliers."),
    Scene("pizza", "#fff3e0", "#c19a6b", (pizza,),
          "A circle cut into triangles and served in a square box. Geometry class."),
    Scene("robot", "#d0d0ff", "#888888", (robot,), "It learned to tell jokes. Its timing is perfect. Nobody laughs."),
    Scene("mountain", "#bfe6ff", "#7ec850", (sun, cloud, mountain),
          "We climbed it because it was there. We came down because the snacks were not."),
    Scene("coffee", "#f5e6d3", "#8b5a2b", (coffee,),
          "Depresso: the feeling when the cup is empty before the meeting is."),
    Scene("duck", "#bfe6ff", "#3a7bd5", (sun, duck),
          "Calm on the surface, paddling furiously about emails underneath."),
    Scene("balloon", "#bfe6ff", "#7ec850", (cloud, balloon),
          "It had one job: stay at the party. Now it's a weather report."),
    Scene("ufo", "#1b1f4a", "#2f4f2f", (stars, ufo, cat),
          "'Take me to your leader.' The cat, already the leader, yawns."),
    Scene("king", "#e6d0ff", "#6b3e26", (crown,),
          "Heavy is the head that wears the crown. Mostly because it is solid gold."),
    Scene("rain", "#9fb3c8", "#5a7d5a", (rain, umbrella),
          "Forecast said 'a light drizzle'. The forecast has never met this cloud."),
    Scene("night", "#1b1f4a", "#2f4f2f", (moon, stars, house),
          "The house turned its lights off to save power. Also the moon."),
    Scene("penguin", "#dfe9f3", "#ffffff", (penguin,), "Dressed for a wedding every single day. Never once invited."),
    Scene("garden", "#bfe6ff", "#7ec850", (sun, tree, duck),
          "Two ducks walk into a garden. Only one of them is a duck."),
    Scene("beach", "#bfe6ff", "#f4d58d", (sun, umbrella, fish),
          "The fish came to the beach to get a tan. It did not think this through."),
    Scene("storm", "#6c7a89", "#5a7d5a", (rain, dog),
          "He barked at the thunder and it stopped. He will never let you forget it."),
    Scene("space", "#000022", "#333333", (stars, moon, rocket),
          "Houston, we have a problem: someone ate all the space ice cream."),
)


def label(draw: ImageDraw.ImageDraw, text: str) -> None:
    font = ImageFont.load_default(size=20)
    left, top, right, bottom = draw.textbbox((0, 0), text.upper(), font=font)
    x, y = (SIDE - (right - left)) // 2, SIDE - 36
    draw.rectangle((x - 6, y - 4, x + right - left + 6, y + bottom - top + 8), fill="white", outline="black")
    draw.text((x, y), text.upper(), fill="black", font=font)


def draw_scene(scene: Scene) -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE), scene.sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, HORIZON, SIDE, SIDE), fill=scene.ground)
    for thing in scene.things:
        thing(draw)
    label(draw, scene.label)
    return image


def file_name(index: int, scene: Scene) -> str:
    return f"{index:02d}-{scene.label}.png"


def caption_row(path: str, caption: str) -> dict[str, object]:
    """One row of Axolotl's multimodal chat format: the image part names the picture by its repo path."""
    return {"messages": [
        {"role": "user", "content": [{"type": "image", "path": path}, {"type": "text", "text": INSTRUCTION}]},
        {"role": "assistant", "content": [{"type": "text", "text": caption}]},
    ]}


def write_all(out: Path) -> list[Path]:
    """Every picture and the captions file under `out` (a data folder); returns the files written."""
    (out / FOLDER).mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for index, scene in enumerate(SCENES, start=1):
        path = out / FOLDER / file_name(index, scene)
        draw_scene(scene).save(path, format="PNG", optimize=True)
        written.append(path)
        rows.append(json.dumps(caption_row(f"train/data/{FOLDER}/{path.name}", scene.caption), ensure_ascii=False))
    captions = out / CAPTIONS
    captions.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    return [*written, captions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the data folder to write into")
    args = parser.parse_args()
    for path in write_all(args.out):
        print(path)


if __name__ == "__main__":
    main()
