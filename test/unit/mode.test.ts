import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { DEFAULT_DYNAMIC_IMAGE, parseImageVersion, selectMode } from '../../src/lab/mode.js';

describe('parseImageVersion', () => {
  it.each([
    ['kindest/node:v1.18.19@sha256:7af1492e19b3192a79f606e43c35fb741e520d195f96399284515f077b3b622c', 1, 18, 19],
    ['kindest/node:v1.31.0', 1, 31, 0],
    ['localhost:5000/kindest/node:v1.30.2', 1, 30, 2],
    ['registry.example.com:443/team/node:v1.13', 1, 13, null],
    ['kindest/node:v1.32.0-rc.1', 1, 32, 0],
  ])('%s', (image, major, minor, patch) => {
    expect(parseImageVersion(image)).toMatchObject({ major, minor, patch });
  });

  it.each([
    'kindest/node',
    'kindest/node:latest',
    'localhost:5000/kindest/node',
    'kindest/node@sha256:abc',
    'kindest/node:1.x',
  ])('rejects %s with a usage error naming --image', (image) => {
    expect(() => parseImageVersion(image)).toThrow(UserError);
    expect(() => parseImageVersion(image)).toThrow(/--image/);
  });
});

describe('selectMode', () => {
  it.each([
    ['auto', undefined, 'static', null],
    ['auto', 'kindest/node:v1.18.19', 'dynamic', 'kindest/node:v1.18.19'],
    ['auto', 'kindest/node:v1.13.0', 'dynamic', 'kindest/node:v1.13.0'],
    ['auto', 'kindest/node:v1.12.10', 'static', 'kindest/node:v1.12.10'],
    ['auto', 'kindest/node:v1.19.1', 'static', 'kindest/node:v1.19.1'],
    ['auto', 'kindest/node:v1.34.0', 'static', 'kindest/node:v1.34.0'],
    ['static', 'kindest/node:v1.18.19', 'static', 'kindest/node:v1.18.19'],
    ['dynamic', undefined, 'dynamic', DEFAULT_DYNAMIC_IMAGE],
    ['dynamic', 'kindest/node:v1.16.15', 'dynamic', 'kindest/node:v1.16.15'],
  ] as const)('%s with %s -> %s', (choice, image, mode, chosenImage) => {
    const sel = selectMode(choice, image);
    expect(sel.mode).toBe(mode);
    expect(sel.image).toBe(chosenImage);
  });

  it('refuses dynamic mode on 1.19 and later, saying the API was removed', () => {
    expect(() => selectMode('dynamic', 'kindest/node:v1.19.1')).toThrow(/removed in Kubernetes 1\.19/);
    expect(() => selectMode('dynamic', 'kindest/node:v1.31.0')).toThrow(UserError);
  });

  it('refuses dynamic mode before 1.13', () => {
    expect(() => selectMode('dynamic', 'kindest/node:v1.12.0')).toThrow(/first appeared in Kubernetes 1\.13/);
  });

  it('records the version of the default dynamic image', () => {
    expect(selectMode('dynamic', undefined).kubernetesVersion).toBe('1.18.19');
  });
});
