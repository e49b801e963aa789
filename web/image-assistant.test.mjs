// The Image Assistant's pure helpers (web/image-assistant.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { catalogName } from './image-assistant.js';

test('an installed app gets a catalog name the image assistant accepts', () => {
  assert.equal(catalogName('org.gnome.gedit'), 'org.gnome.gedit');
  assert.equal(catalogName('debian-xterm'), 'debian-xterm');
  assert.equal(catalogName('My App (beta)'), 'My-App-beta');
  assert.equal(catalogName('***'), 'app');
  assert.equal(catalogName('x'.repeat(150)).length, 100);
});
