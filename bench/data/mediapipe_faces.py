"""The peer for bench:faces: MediaPipe's face detector (PyPI `mediapipe`, whose wheel ships the
short-range and full-range BlazeFace models) on the same images, timed after they are decoded.

Usage: mediapipe_faces.py LIST  (one image path per line)  -> one JSON line on stdout.
Each model runs over every image once as a warm-up, then once timed, single process, as MediaPipe
schedules its own threads (XNNPACK). `found`: images with at least one face at confidence 0.5.
"""
import json
import sys
import time

import cv2
import mediapipe as mp

paths = [p for p in open(sys.argv[1]).read().split("\n") if p]
images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
out = {"images": len(images), "mediapipe": mp.__version__}
for name, selection in (("short_range", 0), ("full_range", 1)):
    with mp.solutions.face_detection.FaceDetection(model_selection=selection, min_detection_confidence=0.5) as d:
        for img in images:
            d.process(img)
        start = time.perf_counter()
        found = sum(1 for img in images if d.process(img).detections)
        seconds = time.perf_counter() - start
    out[name] = {"images_per_s": len(images) / seconds, "found": found}
print(json.dumps(out))
