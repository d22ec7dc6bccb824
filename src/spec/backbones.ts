// The backbone catalog: pretrained networks whose weights ship inside npm
// packages (pinned version, sha256 of every weight file), usable as
// `model.backbone: { from: <name> }`. Only networks trained for something else
// than the experiment's labels belong here (identity, not gender or age), so a
// run's figure is what run-exp trained.
import type { PinnedFiles } from './pinned.ts';

export interface BackboneEntry extends PinnedFiles {
  doc: string;
  licence: string;
  /** What the network was trained to do. */
  trained_for: string;
  /** [height, width, channels] of the images it takes. */
  input: [number, number, number];
  /** Features per image at its output, and the layer (under backbone/) that gives them. */
  features: number;
  output: string;
}

export const BACKBONES = {
  face_resnet: {
    doc: "the face-recognition ResNet-34 of face-api.js, a port of dlib's face descriptor network: 150x150 RGB face crops in, 128 features out, 5.6 M parameters",
    trained_for: 'telling people apart (face identity descriptors), not gender or age',
    package: '@vladmandic/face-api',
    version: '1.7.15',
    licence: "MIT (face-api.js and its converted weights); the network is dlib's face recognition ResNet",
    files: {
      'model/face_recognition_model-weights_manifest.json':
        'cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b',
      'model/face_recognition_model.bin': 'b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589',
    },
    input: [150, 150, 3],
    features: 128,
    output: 'fc',
  },
} as const satisfies Record<string, BackboneEntry>;

export type BackboneName = keyof typeof BACKBONES;

/** What a run records about its backbone: enough to know exactly which weights it started from. */
export function backboneIdentity(name: BackboneName) {
  const e: BackboneEntry = BACKBONES[name];
  return { name, package: e.package, version: e.version, licence: e.licence, files: e.files };
}
