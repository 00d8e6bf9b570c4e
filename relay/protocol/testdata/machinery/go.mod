module mpcrelay/relay/protocol/testdata/machinery

go 1.26.0

require (
	github.com/go-json-experiment/json v1.27.2
	github.com/segmentio/encoding v0.5.4
	github.com/tidwall/gjson v1.20.2
	github.com/valyala/fastjson v1.6.10
)

require (
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	golang.org/x/sys v0.0.0-20211110154304-99a53858aa08 // indirect
)
