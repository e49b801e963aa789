// The admin console: everything it shows and does goes through the same admin API
// as the AWS CLI (AppStream and Application Auto Scaling, awsJson1_1 over SigV4),
// signed here with WebCrypto using temporary credentials the server minted at sign-in.
// The current section's tables refresh every few seconds; forms are left alone.
import { adminApi, importImage } from './sigv4.js';

const REFRESH_MS = 2000;
const STORAGE = 'porthole-console-credentials';
const endpoint = location.origin;

let credentials = JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null');
let appstream;
let autoscaling;
let section = 'fleets';
let refreshing = false;

/** An element: `h('td', { class: 'x' }, 'text', child)`; text is never parsed as HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value != null) element.setAttribute(name, value);
  }
  element.append(...children.flat().filter((c) => c != null).map((c) => (c instanceof Node ? c : String(c))));
  return element;
}

const $ = (id) => document.getElementById(id);

function showError(err) {
  $('error').textContent = err ? (err.message ?? String(err)) : '';
}

/** Runs an action, shows its error in words, and refreshes what it changed. */
async function act(action) {
  try {
    showError(null);
    await action();
  } catch (err) {
    if (err.code === 'ExpiredTokenException') return signOut('Your console session expired; sign in again.');
    showError(err);
  }
  await refresh();
}

/** Calls `handle` with the form's fields when it is submitted (instead of a page load). */
function onSubmit(form, handle) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    handle(new FormData(form));
  });
}

function confirmed(what) {
  return window.confirm(`${what}? This cannot be undone.`);
}

function table(caption, columns, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', {},
    h('caption', { class: 'muted', style: 'text-align:left' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows));
}

function field(label, input) {
  const id = `f-${label.toLowerCase().replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2, 7)}`;
  input.id = id;
  return h('div', {}, h('label', { for: id }, label), input);
}

function select(name, options, selected) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === selected }, o)));
}

/** Each live session's round-trip quantiles and bytes, from /metrics (Prometheus text). */
async function sessionTraffic() {
  const text = await (await fetch('/metrics')).text();
  const traffic = new Map();
  const of = (id) => traffic.get(id) ?? traffic.set(id, { bytes: 0 }).get(id);
  for (const [, name, labels, value] of text.matchAll(/^porthole_session_(\w+)\{([^}]*)\} (\S+)$/gm)) {
    const label = Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const t = of(label.session);
    if (name === 'round_trip_ms') t[`p${Number(label.quantile) * 100}`] = Number(value);
    if (name === 'bytes_total') t.bytes += Number(value);
  }
  return traffic;
}

/** kbit/s of each session since the previous refresh. */
const lastBytes = new Map();
function kbps(id, bytes) {
  const now = performance.now();
  const last = lastBytes.get(id);
  lastBytes.set(id, { bytes, at: now });
  return last && now > last.at ? Math.round(((bytes - last.bytes) * 8) / (now - last.at)) : null;
}

const time = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '');

/** A row's action: a short word on the button, the whole action as its name. */
function action(word, name, onclick, kind = 'quiet') {
  return h('button', { type: 'button', class: kind, 'aria-label': name, title: name, onclick }, word);
}

// ---------------------------------------------------------------- the sections

async function stacksAndFleets() {
  const { Stacks = [] } = await appstream.call('DescribeStacks', {});
  const pairs = await Promise.all(Stacks.map(async (s) => [s, (await appstream.call('ListAssociatedFleets', { StackName: s.Name })).Names ?? []]));
  return pairs;
}

/** UpdateFleet with the fields filled in (a running fleet changes what it can). */
function editFleetForm() {
  const numbers = ['MaxUserDurationInSeconds', 'DisconnectTimeoutInSeconds', 'IdleDisconnectTimeoutInSeconds'];
  const form = h('form', { class: 'row', 'aria-label': 'Edit a fleet' },
    field('Fleet to edit', h('input', { name: 'Name', required: true })),
    field('New image', h('input', { name: 'ImageName', list: 'image-names' })),
    field('New instance type', h('input', { name: 'InstanceType' })),
    field('New max session (s)', h('input', { name: 'MaxUserDurationInSeconds', type: 'number', min: '600' })),
    field('New disconnect timeout (s)', h('input', { name: 'DisconnectTimeoutInSeconds', type: 'number', min: '60' })),
    field('New idle timeout (s)', h('input', { name: 'IdleDisconnectTimeoutInSeconds', type: 'number', min: '0' })),
    h('button', { type: 'submit' }, 'Save fleet'));
  onSubmit(form, (fields) => {
    const changes = Object.fromEntries([...fields].filter(([, v]) => v !== '')
      .map(([k, v]) => [k, numbers.includes(k) ? Number(v) : v]));
    act(async () => {
      await appstream.call('UpdateFleet', changes);
      form.reset();
    });
  });
  return form;
}

const USER_SETTINGS = [
  ['CLIPBOARD_COPY_FROM_LOCAL_DEVICE', 'Paste into the session'],
  ['CLIPBOARD_COPY_TO_LOCAL_DEVICE', 'Copy out of the session'],
  ['FILE_UPLOAD', 'File upload'],
  ['FILE_DOWNLOAD', 'File download'],
  ['PRINTING_TO_LOCAL_DEVICE', 'Printing to the local device'],
];

/** UpdateStack: its user settings and home folders. */
function stackSettingsForm() {
  const form = h('form', { class: 'row', 'aria-label': 'Stack settings' },
    field('Stack to set', h('input', { name: 'Name', required: true })),
    h('fieldset', {}, h('legend', {}, 'Users may'),
      USER_SETTINGS.map(([action, label]) => h('label', {}, h('input', { type: 'checkbox', name: action, checked: true }), ` ${label}`))),
    h('label', {}, h('input', { type: 'checkbox', name: 'HOMEFOLDERS' }), ' Home folders'),
    h('button', { type: 'submit' }, 'Save settings'));
  onSubmit(form, (v) => {
    const homeFolders = v.has('HOMEFOLDERS');
    act(() => appstream.call('UpdateStack', {
      Name: v.get('Name'),
      UserSettings: USER_SETTINGS.map(([action]) => ({ Action: action, Permission: v.has(action) ? 'ENABLED' : 'DISABLED' })),
      ...(homeFolders ? { StorageConnectors: [{ ConnectorType: 'HOMEFOLDERS' }] } : { AttributesToDelete: ['STORAGE_CONNECTORS'] }),
    }));
  });
  return form;
}

/** Entitlements of a stack: create one (an attribute rule), associate an app. */
function entitlementForms() {
  const create = h('form', { class: 'row', 'aria-label': 'Create an entitlement' },
    field('Entitlement stack', h('input', { name: 'StackName', required: true })),
    field('Entitlement name', h('input', { name: 'Name', required: true })),
    field('Visibility', select('AppVisibility', ['ASSOCIATED', 'ALL'], 'ASSOCIATED')),
    field('Attribute', select('AttributeName', ['groups', 'roles', 'department', 'organization', 'title', 'costCenter', 'userType'], 'groups')),
    field('Attribute value', h('input', { name: 'AttributeValue', required: true })),
    h('button', { type: 'submit' }, 'Create entitlement'));
  onSubmit(create, (fields) => {
    const v = Object.fromEntries(fields);
    act(() => appstream.call('CreateEntitlement', {
      StackName: v.StackName, Name: v.Name, AppVisibility: v.AppVisibility,
      Attributes: [{ Name: v.AttributeName, Value: v.AttributeValue }],
    }));
  });
  const associate = h('form', { class: 'row', 'aria-label': 'Entitle an application' },
    field('Of stack', h('input', { name: 'StackName', required: true })),
    field('Entitlement', h('input', { name: 'EntitlementName', required: true })),
    field('Application', h('input', { name: 'ApplicationIdentifier', required: true })),
    h('button', { type: 'submit' }, 'Entitle application'));
  onSubmit(associate, (fields) => {
    act(() => appstream.call('AssociateApplicationToEntitlement', Object.fromEntries(fields)));
  });
  return [create, h('hr'), associate];
}

const appNames = (image) => (image.Applications ?? []).map((a) => a.DisplayName ?? a.Name).join(', ');
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const IMPORT_STATES = {
  reading: (file) => `Reading ${file.name} (${megabytes(file.size)})...`,
  hashing: () => 'Computing its SHA-256 (the signature covers it)...',
  uploading: (file) => `Uploading ${megabytes(file.size)}; the server checks and unpacks every layer...`,
};

/**
 * Porthole's OCI import (not an AppStream operation): the archive is hashed here, signed
 * by that hash and sent whole; the server's reason for refusing it is shown as it gave it.
 */
function importImageForm() {
  const status = h('output', { class: 'muted', 'data-import-status': '' });
  const submit = h('button', { type: 'submit' }, 'Import image');
  const form = h('form', { class: 'row', 'aria-label': 'Import an OCI image' },
    field('Image name', h('input', { name: 'Name', required: true })),
    field('OCI archive', h('input', { name: 'Archive', type: 'file', required: true, accept: '.tar,application/x-tar' })),
    submit, status);
  onSubmit(form, (fields) => {
    const file = fields.get('Archive');
    submit.disabled = true;
    act(async () => {
      try {
        const { Image } = await importImage({
          endpoint, credentials, name: fields.get('Name'), archive: file,
          onState: (state) => { status.textContent = IMPORT_STATES[state](file); },
        });
        status.textContent = `Imported ${Image.Name}: ${Image.State}; applications: ${appNames(Image) || 'none'}.`;
        form.reset();
      } catch (err) {
        status.textContent = 'Not imported.';
        throw err;
      } finally {
        submit.disabled = false;
      }
    });
  });
  return form;
}

const SECTIONS = {
  fleets: {
    title: 'Fleets',
    async render() {
      const { Fleets = [] } = await appstream.call('DescribeFleets', {});
      const rows = Fleets.map((f) => {
        const c = f.ComputeCapacityStatus ?? {};
        const desired = h('input', { class: 'capacity', type: 'number', min: '0', value: c.Desired ?? 0, 'aria-label': `Desired capacity of ${f.Name}` });
        return h('tr', { 'data-fleet': f.Name },
          h('th', { scope: 'row' }, f.Name),
          h('td', { class: `state ${f.State}` }, f.State),
          h('td', {}, f.FleetType), h('td', {}, f.InstanceType), h('td', {}, f.ImageName),
          h('td', { 'data-capacity': 'desired' }, c.Desired ?? 0), h('td', { 'data-capacity': 'running' }, c.Running ?? 0),
          h('td', { 'data-capacity': 'in-use' }, c.InUse ?? 0), h('td', { 'data-capacity': 'available' }, c.Available ?? 0),
          h('td', {}, c.Pending ?? 0),
          h('td', {}, (f.FleetErrors ?? []).map((e) => h('div', { class: 'error' }, `${e.ErrorCode}: ${e.ErrorMessage}`))),
          h('td', { class: 'actions' },
            desired,
            action('Set', `Set the capacity of ${f.Name}`, () => act(() => appstream.call('UpdateFleet', { Name: f.Name, ComputeCapacity: { DesiredInstances: Number(desired.value) } }))),
            f.State === 'STOPPED'
              ? action('Start', `Start ${f.Name}`, () => act(() => appstream.call('StartFleet', { Name: f.Name })), '')
              : action('Stop', `Stop ${f.Name}`, () => confirmed(`Stop ${f.Name} and end its sessions`) && act(() => appstream.call('StopFleet', { Name: f.Name }))),
            action('Delete', `Delete ${f.Name}`, () => confirmed(`Delete the fleet ${f.Name}`) && act(() => appstream.call('DeleteFleet', { Name: f.Name })), 'danger')));
      });
      return table('Fleets and their capacity, live',
        ['Name', 'State', 'Type', 'Instance type', 'Image', 'Desired', 'Running', 'In use', 'Available', 'Pending', 'Errors', 'Actions'],
        rows, 'No fleet yet.');
    },
    form() {
      const form = h('form', { class: 'row', 'aria-label': 'Create a fleet' },
        field('Fleet name', h('input', { name: 'Name', required: true, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$' })),
        field('Image', h('input', { name: 'ImageName', required: true, list: 'image-names' })),
        field('Instance type', h('input', { name: 'InstanceType', value: 'stream.standard.small', required: true })),
        field('Fleet type', select('FleetType', ['ALWAYS_ON', 'ON_DEMAND', 'ELASTIC'], 'ON_DEMAND')),
        field('Desired capacity', h('input', { name: 'DesiredInstances', type: 'number', min: '0', value: '1' })),
        field('Max session (s)', h('input', { name: 'MaxUserDurationInSeconds', type: 'number', min: '600', value: '57600' })),
        field('Disconnect timeout (s)', h('input', { name: 'DisconnectTimeoutInSeconds', type: 'number', min: '60', value: '900' })),
        h('button', { type: 'submit' }, 'Create fleet'),
        h('datalist', { id: 'image-names' }));
      onSubmit(form, (fields) => {
        const v = Object.fromEntries(fields);
        act(async () => {
          await appstream.call('CreateFleet', {
            Name: v.Name, ImageName: v.ImageName, InstanceType: v.InstanceType, FleetType: v.FleetType,
            ComputeCapacity: { DesiredInstances: Number(v.DesiredInstances) },
            MaxUserDurationInSeconds: Number(v.MaxUserDurationInSeconds),
            DisconnectTimeoutInSeconds: Number(v.DisconnectTimeoutInSeconds),
          });
          form.reset();
        });
      });
      appstream.call('DescribeImages', {}).then(({ Images = [] }) => {
        form.querySelector('datalist').replaceChildren(...Images.map((i) => h('option', { value: i.Name })));
      }).catch(showError);
      return h('div', {}, form, h('hr'), editFleetForm());
    },
  },
  stacks: {
    title: 'Stacks',
    async render() {
      const pairs = await stacksAndFleets();
      const rows = await Promise.all(pairs.map(async ([s, fleets]) => {
        const [{ UserStackAssociations = [] }, { Entitlements = [] }] = await Promise.all([
          appstream.call('DescribeUserStackAssociations', { StackName: s.Name }),
          appstream.call('DescribeEntitlements', { StackName: s.Name }),
        ]);
        return h('tr', { 'data-stack': s.Name },
          h('th', { scope: 'row' }, s.Name), h('td', {}, s.DisplayName ?? ''),
          h('td', {}, fleets.join(', ')),
          h('td', {}, UserStackAssociations.map((a) => a.UserName).join(', ')),
          h('td', {}, (s.StorageConnectors ?? []).map((c) => c.ConnectorType).join(', ')),
          h('td', {}, (s.UserSettings ?? []).filter((u) => u.Permission === 'DISABLED').map((u) => u.Action).join(', ') || 'all allowed'),
          h('td', {}, Entitlements.map((e) => `${e.Name} (${e.Attributes.map((a) => `${a.Name}=${a.Value}`).join(', ')})`).join('; ')),
          h('td', { class: 'actions' },
            fleets.map((f) => action(`Detach ${f}`, `Detach ${f} from ${s.Name}`, () => act(() => appstream.call('DisassociateFleet', { StackName: s.Name, FleetName: f })))),
            action('Delete', `Delete ${s.Name}`, () => confirmed(`Delete the stack ${s.Name}`) && act(() => appstream.call('DeleteStack', { Name: s.Name })), 'danger')));
      }));
      return table('Stacks, their fleets and users', ['Name', 'Display name', 'Fleets', 'Users', 'Storage', 'Disabled for users', 'Entitlements', 'Actions'], rows, 'No stack yet.');
    },
    form() {
      const create = h('form', { class: 'row', 'aria-label': 'Create a stack' },
        field('Stack name', h('input', { name: 'Name', required: true })),
        field('Display name', h('input', { name: 'DisplayName' })),
        h('button', { type: 'submit' }, 'Create stack'));
      onSubmit(create, (fields) => {
        const v = Object.fromEntries(fields);
        act(async () => {
          await appstream.call('CreateStack', { Name: v.Name, ...(v.DisplayName ? { DisplayName: v.DisplayName } : {}) });
          create.reset();
        });
      });
      const associate = h('form', { class: 'row', 'aria-label': 'Associate a fleet with a stack' },
        field('Stack', h('input', { name: 'StackName', required: true })),
        field('Fleet', h('input', { name: 'FleetName', required: true })),
        h('button', { type: 'submit' }, 'Associate fleet'));
      onSubmit(associate, (fields) => {
        act(() => appstream.call('AssociateFleet', Object.fromEntries(fields)));
      });
      return h('div', {}, create, h('hr'), associate, h('hr'), stackSettingsForm(), h('hr'), entitlementForms());
    },
  },
  images: {
    title: 'Images',
    async render() {
      const { Images = [] } = await appstream.call('DescribeImages', {});
      const rows = Images.map((i) => h('tr', { 'data-image': i.Name },
        h('th', { scope: 'row' }, i.Name), h('td', { class: `state ${i.State}` }, i.State), h('td', {}, i.Platform ?? ''),
        h('td', {}, appNames(i)),
        h('td', {}, time(i.CreatedTime))));
      return table('Images and their applications', ['Name', 'State', 'Platform', 'Applications', 'Created'], rows, 'No image.');
    },
    form: importImageForm,
  },
  users: {
    title: 'Users',
    async render() {
      const { Users = [] } = await appstream.call('DescribeUsers', { AuthenticationType: 'USERPOOL' });
      const rows = Users.map((u) => h('tr', { 'data-user': u.UserName },
        h('th', { scope: 'row' }, u.UserName), h('td', {}, [u.FirstName, u.LastName].filter(Boolean).join(' ')),
        h('td', {}, u.Status), h('td', {}, u.Enabled ? 'enabled' : 'disabled'),
        h('td', { class: 'actions' },
          u.Enabled
            ? action('Disable', `Disable ${u.UserName}`, () => confirmed(`Disable ${u.UserName} and end their sessions`) && act(() => appstream.call('DisableUser', { UserName: u.UserName, AuthenticationType: 'USERPOOL' })))
            : action('Enable', `Enable ${u.UserName}`, () => act(() => appstream.call('EnableUser', { UserName: u.UserName, AuthenticationType: 'USERPOOL' })), ''),
          action('Delete', `Delete ${u.UserName}`, () => confirmed(`Delete the user ${u.UserName}`) && act(() => appstream.call('DeleteUser', { UserName: u.UserName, AuthenticationType: 'USERPOOL' })), 'danger'))));
      return table('User-pool users', ['Email', 'Name', 'Status', 'Account', 'Actions'], rows, 'No user yet.');
    },
    form() {
      const create = h('form', { class: 'row', 'aria-label': 'Create a user' },
        field('Email', h('input', { name: 'UserName', type: 'email', required: true })),
        field('First name', h('input', { name: 'FirstName' })),
        field('Last name', h('input', { name: 'LastName' })),
        h('button', { type: 'submit' }, 'Create user and send welcome'));
      onSubmit(create, (fields) => {
        const v = Object.fromEntries(fields);
        act(async () => {
          await appstream.call('CreateUser', {
            UserName: v.UserName, AuthenticationType: 'USERPOOL',
            ...(v.FirstName ? { FirstName: v.FirstName } : {}), ...(v.LastName ? { LastName: v.LastName } : {}),
          });
          create.reset();
        });
      });
      const assign = h('form', { class: 'row', 'aria-label': 'Assign a user to a stack' },
        field('User email', h('input', { name: 'UserName', type: 'email', required: true })),
        field('Stack name', h('input', { name: 'StackName', required: true })),
        h('button', { type: 'submit' }, 'Assign to stack'));
      onSubmit(assign, (fields) => {
        const v = Object.fromEntries(fields);
        act(async () => {
          const { errors = [] } = await appstream.call('BatchAssociateUserStack', {
            UserStackAssociations: [{ ...v, AuthenticationType: 'USERPOOL', SendEmailNotification: true }],
          });
          if (errors.length) throw new Error(`${errors[0].ErrorCode}: ${errors[0].ErrorMessage}`);
        });
      });
      return h('div', {}, create, h('hr'), assign);
    },
  },
  sessions: {
    title: 'Sessions',
    async render() {
      const pairs = await stacksAndFleets();
      const found = (await Promise.all(pairs.flatMap(([s, fleets]) => fleets.map(async (f) => (
        (await appstream.call('DescribeSessions', { StackName: s.Name, FleetName: f })).Sessions ?? []))))).flat();
      const traffic = await sessionTraffic();
      const rows = found.map((s) => {
        const t = traffic.get(s.Id) ?? {};
        const rate = t.bytes ? kbps(s.Id, t.bytes) : null;
        return h('tr', { 'data-session': s.Id },
        h('th', { scope: 'row' }, s.UserId), h('td', {}, s.AuthenticationType), h('td', {}, s.StackName), h('td', {}, s.FleetName),
        h('td', { class: `state ${s.State}` }, s.State), h('td', {}, s.ConnectionState ?? ''),
        h('td', {}, time(s.StartTime)), h('td', {}, time(s.MaxExpirationTime)),
        h('td', { 'data-latency': '' }, t.p50 != null ? `${t.p50} / ${t.p95} ms` : ''),
        h('td', {}, rate != null ? `${rate} kbit/s` : ''),
        h('td', { class: 'actions' },
          action('Expire', `Expire the session of ${s.UserId}`, () => confirmed(`End the session of ${s.UserId}`) && act(() => appstream.call('ExpireSession', { SessionId: s.Id })), 'danger')));
      });
      return table('Live sessions', ['User', 'Authentication', 'Stack', 'Fleet', 'State', 'Connection', 'Since', 'Expires', 'Round trip p50 / p95', 'Bandwidth', 'Actions'], rows, 'No live session.');
    },
  },
  scaling: {
    title: 'Scaling',
    async render() {
      const ns = { ServiceNamespace: 'appstream' };
      const [{ ScalableTargets = [] }, { ScalingPolicies = [] }, { ScalingActivities = [] }] = await Promise.all([
        autoscaling.call('DescribeScalableTargets', ns), autoscaling.call('DescribeScalingPolicies', ns),
        autoscaling.call('DescribeScalingActivities', ns),
      ]);
      return h('div', {},
        table('Scalable targets', ['Fleet', 'Min', 'Max'], ScalableTargets.map((t) => h('tr', {},
          h('th', { scope: 'row' }, t.ResourceId), h('td', {}, t.MinCapacity), h('td', {}, t.MaxCapacity))), 'No scalable target.'),
        table('Scaling policies', ['Policy', 'Fleet', 'Type', 'Target'], ScalingPolicies.map((p) => h('tr', {},
          h('th', { scope: 'row' }, p.PolicyName), h('td', {}, p.ResourceId), h('td', {}, p.PolicyType),
          h('td', {}, p.TargetTrackingScalingPolicyConfiguration?.TargetValue ?? ''))), 'No scaling policy.'),
        table('Recent scaling activities', ['Fleet', 'Status', 'Cause', 'Started'], ScalingActivities.map((a) => h('tr', {},
          h('th', { scope: 'row' }, a.ResourceId), h('td', {}, a.StatusCode), h('td', {}, a.Cause ?? a.Description ?? ''),
          h('td', {}, time(a.StartTime)))), 'No scaling activity yet.'));
    },
  },
};

// ---------------------------------------------------------------- the page

async function refresh() {
  if (!credentials || refreshing) return;
  refreshing = true;
  try {
    const live = $('live');
    // Not under the administrator's hands: a number being typed in a row stays.
    const typing = live?.contains(document.activeElement) && document.activeElement.tagName === 'INPUT';
    if (live && !typing) live.replaceChildren(await SECTIONS[section].render());
  } catch (err) {
    if (err.code === 'ExpiredTokenException') signOut('Your console session expired; sign in again.');
    else showError(err);
  } finally {
    refreshing = false;
  }
}

function show(name) {
  section = name;
  for (const button of $('nav').children) {
    if (button.dataset.section === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  const { title, form } = SECTIONS[name];
  $('view').replaceChildren(
    h('h1', {}, title),
    h('section', { class: 'card', 'aria-label': `${title}, live` }, h('div', { id: 'live', 'aria-live': 'off' }, h('p', { class: 'muted' }, 'Loading...'))),
    ...(form ? [h('section', { class: 'card', 'aria-label': `Change ${title.toLowerCase()}` }, form())] : []),
  );
  showError(null);
  refresh();
}

function signedIn() {
  appstream = adminApi({ endpoint, credentials });
  autoscaling = adminApi({ endpoint, credentials, service: 'autoscaling' });
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('nav').replaceChildren(...Object.entries(SECTIONS).map(([name, s]) => h('button', { type: 'button', 'data-section': name, onclick: () => show(name) }, s.title)));
  show(section);
}

function signOut(message) {
  credentials = null;
  sessionStorage.removeItem(STORAGE);
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('access-key-id').focus();
  showError(message);
}

$('sign-in-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = Object.fromEntries(new FormData(e.target));
  const response = await fetch('/console/credentials', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(form),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) return showError(answer.message ?? `Sign-in failed (HTTP ${response.status}).`);
  credentials = {
    accessKeyId: answer.AccessKeyId, secretAccessKey: answer.SecretAccessKey,
    sessionToken: answer.SessionToken, expiration: answer.Expiration,
  };
  sessionStorage.setItem(STORAGE, JSON.stringify(credentials));
  e.target.reset();
  showError(null);
  signedIn();
});
$('sign-out').addEventListener('click', () => signOut(null));

if (credentials) signedIn();
else signOut(null);
setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, REFRESH_MS);
window.portholeConsole = { refresh };
