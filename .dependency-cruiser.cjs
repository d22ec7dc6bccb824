// The architecture rule `npm run check` enforces (docs/architecture.md): data
// flows one way, from the YAML file to the trained model to the records, so a
// folder of src/ imports only from the folders before it in LAYERS (and from
// spec and platform, which every folder may use). spec imports nothing of ours,
// platform only spec. A cycle between folders is then impossible too.
const LAYERS = [
  'config',
  'plan',
  'data',
  'layers',
  'model',
  'engine',
  'train',
  'record',
  'report',
  'serve',
  'export',
  'runner',
  'cli',
];

const later = (i) => LAYERS.slice(i + 1).join('|');

module.exports = {
  forbidden: [
    {
      name: 'spec-is-the-leaf',
      comment: 'spec holds the declarations and types every step reads; it imports nothing else of ours',
      severity: 'error',
      from: { path: '^src/spec/' },
      to: { path: '^(src/(?!spec/)|native/)' },
    },
    {
      name: 'platform-reads-spec-only',
      comment: 'platform (backend loader, cache paths) sits under every step and imports only spec',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/(?!spec/|platform/)' },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `${layer}-imports-only-earlier-steps`,
      comment: `${layer} comes before ${LAYERS.slice(i + 1).join(', ')}: it must not import from them`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${later(i)})/` },
    })),
    {
      name: 'only-platform-reads-native-scripts',
      comment: 'the install scripts under native/ are read through platform/ (cache-root.ts), in one place',
      severity: 'error',
      from: { path: '^src/(?!platform/)' },
      to: { path: '^native/[^/]+\\.mjs$' },
    },
    {
      name: 'no-unknown-folder',
      comment: 'every folder of src/ has a place in the order (add a new one to LAYERS)',
      severity: 'error',
      from: { path: `^src/(?!(spec|platform|${LAYERS.join('|')})/)` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|test|bench|scripts)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.cjs', '.json'] },
  },
};
