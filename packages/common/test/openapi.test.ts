import { describe, expect, test } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { personNameSchema } from '../src/openapi.js';
import { personName } from '../src/validation.js';

describe('the documents say what the code enforces', () => {
  const documented = new Ajv2020({ strict: false }).compile(personNameSchema);
  const samples = [
    'Alice',
    'a',
    ' a ',
    '',
    ' ',
    '\t\n \u00a0\ufeff',
    'x'.repeat(200),
    'x'.repeat(201),
    `  ${'x'.repeat(200)}  `,
    `\n${'x'.repeat(199)}\t`,
    '😀'.repeat(200),
    '😀'.repeat(201),
    `Ann ${'\u2003'.repeat(300)} Lee`,
    'Zoë\u0000',
  ];

  test.each(samples.map((sample) => [JSON.stringify(sample).slice(0, 40), sample]))('a name %s: the document and the code agree', (_, sample) => {
    expect(documented(sample)).toBe(personName.safeParse(sample).success);
  });
});
