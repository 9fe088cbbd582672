"""Media: the bytes of pictures and videos.

- `attachments.py`: a member's attachment, downloaded with a cap on its size and its time.
- `videos.py`: a finished video fetched from Apiframe's CDN (bounded, checked to be an MP4),
  and the owner's archive of them.
- `frames.py`: frames with PyAV: a video's last frame, and short clips made from pictures.

What it promises: no download is unbounded in size or time, and a file is never trusted for
what it says it is.
"""
