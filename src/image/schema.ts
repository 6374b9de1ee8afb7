/*
 * The image schema (proto/io_uring.proto) and the conversion between the
 * in-memory Image and its protobuf encoding.
 *
 * The schema is parsed at build time (scripts/proto-json.js writes
 * schema-compiled.js next to this module in dist/) and loaded here with
 * protobufjs/light, which has no .proto parser: the helper pays no parse
 * on every dump and restore.  test/image-roundtrip.test.ts checks that the
 * compiled schema is the .proto's.
 *
 * Images are encoded and decoded by the static codec that
 * scripts/proto-static.js generates from the same schema at build time
 * (schema-static.js): the reflected type, its resolution and the code
 * protobufjs generates from it at run time took 30-60 ms of every dump's
 * CPU.  Without schema-static.js (tsc alone) the reflected type does the
 * work, as before.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as protobuf from 'protobufjs/light';
import { Image } from './types';

const PROTO_FILE = path.join('proto', 'io_uring.proto');
const COMPILED = './schema-compiled';
const MESSAGE = 'criu_uring.UringImage';
const U64_LIMIT = 1n << 64n;

let cachedType: protobuf.Type | null = null;

/** What encodePayload and decodePayload use of a message type: protobufjs' reflected Type, or its static code. */
export interface Codec {
	fromObject(object: Record<string, unknown>): unknown;
	encode(message: unknown): { finish(): Uint8Array };
	decode(payload: Uint8Array): unknown;
	toObject(message: unknown, options: protobuf.IConversionOptions): Record<string, unknown>;
}

let cachedCodec: Codec | null = null;
let codecIsStatic = false;

/* required when needed: the helper, with the static codec, never loads the reflection code */
const light = (): typeof import('protobufjs/light') => require('protobufjs/light') as typeof import('protobufjs/light');

/** Absolute path of proto/io_uring.proto, searched upward from this module. */
export function protoPath(): string {
	let dir = __dirname;
	for (let i = 0; i < 5; i++) {
		const candidate = path.join(dir, PROTO_FILE);
		if (fs.existsSync(candidate)) return candidate;
		dir = path.dirname(dir);
	}
	throw new Error(`${PROTO_FILE} not found above ${__dirname} (installation incomplete)`);
}

/** The schema as scripts/proto-json.js compiled it (protobufjs' JSON form). */
export function compiledSchema(): protobuf.INamespace {
	try {
		/* a literal path, so that scripts/bundle-helper.js (esbuild) bundles it */
		return require('./schema-compiled') as protobuf.INamespace;
	} catch (e) {
		throw new Error(`the compiled image schema (${COMPILED}.js) is missing: run npm run build (${(e as Error).message})`);
	}
}

/** The UringImage message type (loaded once). */
export function imageType(): protobuf.Type {
	if (cachedType) return cachedType;
	const pb = light();
	if (!pb.util.Long) {
		/* Without the long package 64-bit values would silently lose precision. */
		throw new Error('protobufjs has no 64-bit integer support (the "long" package is missing)');
	}
	const root = pb.Root.fromJSON(compiledSchema());
	root.resolveAll();
	cachedType = root.lookupType(MESSAGE);
	return cachedType;
}

/** The UringImage codec: the static one made at build time (scripts/proto-static.js), or else the reflected type. */
export function imageCodec(): Codec {
	if (cachedCodec) return cachedCodec;
	let generated: Record<string, Codec> | null = null;
	try {
		/* a literal path, so that scripts/bundle-helper.js (esbuild) bundles it */
		generated = require('./schema-static') as Record<string, Codec>;
	} catch {
		/* not generated (tsc alone): the reflected type below */
	}
	if (generated && !(require('protobufjs/minimal') as typeof import('protobufjs/minimal')).util.Long) {
		/* Without the long package 64-bit values would silently lose precision. */
		throw new Error('protobufjs has no 64-bit integer support (the "long" package is missing)');
	}
	codecIsStatic = !!generated?.[MESSAGE];
	cachedCodec = generated?.[MESSAGE] ?? (imageType() as unknown as Codec);
	return cachedCodec;
}

/** True when images go through the static codec (test/image-roundtrip.test.ts). */
export function staticCodec(): boolean {
	imageCodec();
	return codecIsStatic;
}

/*
 * Whether every bigint in @value fits the schema's unsigned 64-bit fields
 * (protobufjs would truncate it).  A walk without the field paths: making
 * a path string for every value was most of an image's encoding time.
 */
function fitsU64(value: unknown): boolean {
	if (typeof value === 'bigint') return value >= 0n && value < U64_LIMIT;
	if (Array.isArray(value)) {
		for (const v of value) if (!fitsU64(v)) return false;
	} else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
		for (const k of Object.keys(value)) if (!fitsU64((value as Record<string, unknown>)[k])) return false;
	}
	return true;
}

/* The same walk naming the first value that does not fit, for the error. */
function checkU64(value: unknown, where: string): void {
	if (typeof value === 'bigint') {
		if (value < 0n || value >= U64_LIMIT) throw new RangeError(`${where} = ${value} does not fit in 64 bits`);
	} else if (Array.isArray(value)) {
		value.forEach((v, i) => checkU64(v, `${where}[${i}]`));
	} else if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)) {
		for (const [k, v] of Object.entries(value)) checkU64(v, where ? `${where}.${k}` : k);
	}
}

/** Protobuf encoding of an image (no envelope). */
export function encodePayload(img: Image): Buffer {
	if (!fitsU64(img)) checkU64(img, '');
	const type = imageCodec();
	const message = type.fromObject(img as unknown as Record<string, unknown>);
	return Buffer.from(type.encode(message).finish());
}

/** Decodes a protobuf payload; throws protobufjs errors on malformed input. */
export function decodePayload(payload: Uint8Array): Image {
	const type = imageCodec();
	const message = type.decode(payload);
	return type.toObject(message, {
		longs: BigInt,
		enums: String,
		defaults: true,
		arrays: true,
	}) as unknown as Image;
}
