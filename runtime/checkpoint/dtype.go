package checkpoint

import (
	"encoding/binary"
	"math"
)

// A dtype describes how one element type is stored in a file and held in a
// Tensor: floating-point types are held in Tensor.F32, integer and boolean
// types in Tensor.I64.
type dtype struct {
	name        string // PyTorch's name, without "torch."
	storage     string // the legacy storage class in module torch
	safetensors string // the safetensors name
	size        int    // bytes per element
	float       bool

	toF32   func(b []byte) float32
	fromF32 func(b []byte, v float32)
	toI64   func(b []byte) int64
	fromI64 func(b []byte, v int64)
}

var le = binary.LittleEndian

var dtypes = []*dtype{
	{
		name: "float32", storage: "FloatStorage", safetensors: "F32", size: 4, float: true,
		toF32:   func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) },
		fromF32: func(b []byte, v float32) { le.PutUint32(b, math.Float32bits(v)) },
	},
	{
		name: "float64", storage: "DoubleStorage", safetensors: "F64", size: 8, float: true,
		toF32:   func(b []byte) float32 { return float32(math.Float64frombits(le.Uint64(b))) },
		fromF32: func(b []byte, v float32) { le.PutUint64(b, math.Float64bits(float64(v))) },
	},
	{
		name: "float16", storage: "HalfStorage", safetensors: "F16", size: 2, float: true,
		toF32:   func(b []byte) float32 { return halfToFloat32(le.Uint16(b)) },
		fromF32: func(b []byte, v float32) { le.PutUint16(b, float32ToHalf(v)) },
	},
	{
		name: "bfloat16", storage: "BFloat16Storage", safetensors: "BF16", size: 2, float: true,
		toF32:   func(b []byte) float32 { return math.Float32frombits(uint32(le.Uint16(b)) << 16) },
		fromF32: func(b []byte, v float32) { le.PutUint16(b, float32ToBFloat16(v)) },
	},
	{
		name: "int64", storage: "LongStorage", safetensors: "I64", size: 8,
		toI64:   func(b []byte) int64 { return int64(le.Uint64(b)) },
		fromI64: func(b []byte, v int64) { le.PutUint64(b, uint64(v)) },
	},
	{
		name: "int32", storage: "IntStorage", safetensors: "I32", size: 4,
		toI64:   func(b []byte) int64 { return int64(int32(le.Uint32(b))) },
		fromI64: func(b []byte, v int64) { le.PutUint32(b, uint32(v)) },
	},
	{
		name: "int16", storage: "ShortStorage", safetensors: "I16", size: 2,
		toI64:   func(b []byte) int64 { return int64(int16(le.Uint16(b))) },
		fromI64: func(b []byte, v int64) { le.PutUint16(b, uint16(v)) },
	},
	{
		name: "int8", storage: "CharStorage", safetensors: "I8", size: 1,
		toI64:   func(b []byte) int64 { return int64(int8(b[0])) },
		fromI64: func(b []byte, v int64) { b[0] = byte(v) },
	},
	{
		name: "uint8", storage: "ByteStorage", safetensors: "U8", size: 1,
		toI64:   func(b []byte) int64 { return int64(b[0]) },
		fromI64: func(b []byte, v int64) { b[0] = byte(v) },
	},
	{
		name: "bool", storage: "BoolStorage", safetensors: "BOOL", size: 1,
		toI64: func(b []byte) int64 {
			if b[0] != 0 {
				return 1
			}
			return 0
		},
		fromI64: func(b []byte, v int64) {
			b[0] = 0
			if v != 0 {
				b[0] = 1
			}
		},
	},
}

// dtypeNamed returns the dtype with PyTorch name name, or nil.
func dtypeNamed(name string) *dtype {
	for _, dt := range dtypes {
		if dt.name == name {
			return dt
		}
	}
	return nil
}

// dtypeOfStorage returns the dtype of the legacy storage class torch.<class>, or nil.
func dtypeOfStorage(class string) *dtype {
	for _, dt := range dtypes {
		if dt.storage == class {
			return dt
		}
	}
	return nil
}

// dtypeOfSafetensors returns the dtype with safetensors name name, or nil.
func dtypeOfSafetensors(name string) *dtype {
	for _, dt := range dtypes {
		if dt.safetensors == name {
			return dt
		}
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 half-precision number to float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // zero
		return math.Float32frombits(sign)
	}
	// Subnormal: frac × 2⁻²⁴.
	v := float32(frac) / (1 << 24)
	if sign != 0 {
		v = -v
	}
	return v
}

// float32ToHalf converts f to the nearest half-precision number, rounding
// ties to even.
func float32ToHalf(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	frac := bits & 0x7fffff
	switch {
	case exp == 0xff: // infinity or NaN
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15: // overflow
		return sign | 0x7c00
	case exp-127 >= -14: // normal
		h := uint32(exp-127+15)<<10 | frac>>13
		return sign | uint16(roundShift(h, frac, 13))
	case exp-127 >= -25: // subnormal
		m := frac | 0x800000
		shift := uint(-14-(exp-127)) + 13
		return sign | uint16(roundShift(m>>shift, m, shift))
	}
	return sign
}

// roundShift rounds h, the value of x shifted right by shift bits, to nearest
// even, looking at the bits of x that were shifted out.
func roundShift(h, x uint32, shift uint) uint32 {
	rest := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || rest == half && h&1 == 1 {
		h++
	}
	return h
}

// float32ToBFloat16 converts f to bfloat16, rounding ties to even.
func float32ToBFloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	if f != f { // NaN: keep it a NaN
		return uint16(bits>>16) | 0x40
	}
	return uint16(roundShift(bits>>16, bits, 16))
}
