# Imports a VM from exported configuration files (ImportSystemDefinition), points its disks at the
# restored files, renames it, validates and realizes it; destroys the planned VM on any failure.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vmms = Get-HvsnapService 'Msvm_VirtualSystemManagementService'
$root = [string]$in.directory
if (-not $root) { $root = [string](@(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_VirtualSystemManagementServiceSettingData)[0].DefaultExternalDataRoot) }
$dir = Join-Path $root ('hvsnap-import-' + [guid]::NewGuid().ToString())
$vmcx = $null
foreach ($f in @($in.files)) {
  $parts = ([string]$f.name).Split('/')
  if ($parts -contains '..' -or $parts -contains '' -or ([string]$f.name).Contains('\') -or ([string]$f.name).Contains(':')) {
    Stop-Hvsnap 'input_invalid' "configuration file name $($f.name) is not a plain relative path" @{ file = [string]$f.name }
  }
  $target = Join-Path $dir ($parts -join '\')
  New-Item -ItemType Directory -Force -Path (Split-Path -Parent $target) | Out-Null
  [IO.File]::WriteAllBytes($target, [Convert]::FromBase64String([string]$f.dataBase64))
  if ($target.EndsWith('.vmcx', [StringComparison]::OrdinalIgnoreCase)) { $vmcx = $target }
}
if (-not $vmcx) { Stop-Hvsnap 'input_invalid' 'the configuration holds no .vmcx file' @{ field = 'config' } }
$wait = [int]$in.waitMs
$call = Invoke-HvsnapMethod $vmms 'ImportSystemDefinition' @{ SystemDefinitionFile = $vmcx; SnapshotFolder = (Join-Path $dir 'Snapshots'); GenerateNewSystemIdentifier = [bool]$in.newId } $wait 'Msvm_PlannedComputerSystem' 'Name'
if (-not $call.Ok) { ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result }); return }
$plannedName = $null
if ($null -ne $call.Out.ImportedSystem) { $plannedName = [string]$call.Out.ImportedSystem.Name }
if (-not $plannedName) { $plannedName = @($call.Result.Affected)[0] }
$planned = @(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_PlannedComputerSystem | Where-Object { $_.Name -eq $plannedName })[0]
$failed = $null
try {
  $pvssd = @(Get-CimAssociatedInstance -InputObject $planned -ResultClassName Msvm_VirtualSystemSettingData | Where-Object { $_.VirtualSystemType -eq 'Microsoft:Hyper-V:System:Planned' })[0]
  # a disk's InstanceID holds the VM id (which a new id changes): match on the rest, the slot
  $source = [string]$in.sourceVmId
  if (-not $source) { Stop-Hvsnap 'input_invalid' 'the id of the exported VM is unknown: its disks cannot be matched' @{ field = 'sourceVmId' } }
  $source = [regex]::Escape($source)
  $sasds = @(Get-CimAssociatedInstance -InputObject $pvssd -ResultClassName Msvm_StorageAllocationSettingData | Where-Object { $_.ResourceType -eq 31 })
  foreach ($sasd in $sasds) {
    $slot = ([string]$sasd.InstanceID) -ireplace [regex]::Escape([string]$planned.Name), '*'
    foreach ($p in $in.diskPaths.PSObject.Properties) {
      if ((([string]$p.Name) -ireplace $source, '*') -eq $slot) {
        $sasd.HostResource = @([string]$p.Value)
        $c = Invoke-HvsnapMethod $vmms 'ModifyResourceSettings' @{ ResourceSettings = @(ConvertTo-HvsnapEmbedded $sasd) } $wait
        if (-not $c.Ok) { $failed = $c.Result; break }
      }
    }
    if ($failed) { break }
  }
  if (-not $failed -and $in.name) {
    $pvssd.ElementName = [string]$in.name
    $c = Invoke-HvsnapMethod $vmms 'ModifySystemSettings' @{ SystemSettings = (ConvertTo-HvsnapEmbedded $pvssd) } $wait
    if (-not $c.Ok) { $failed = $c.Result }
  }
  if (-not $failed) {
    $c = Invoke-HvsnapMethod $vmms 'ValidatePlannedSystem' @{ PlannedSystem = $planned } $wait
    if (-not $c.Ok) { $failed = $c.Result }
  }
  if (-not $failed) {
    $c = Invoke-HvsnapMethod $vmms 'RealizePlannedSystem' @{ PlannedSystem = $planned } $wait 'Msvm_ComputerSystem' 'Name'
    if (-not $c.Ok) { $failed = $c.Result } else { $realized = [string]$planned.Name }
  }
} catch {
  [void](Invoke-CimMethod -InputObject $vmms -MethodName DestroySystem -Arguments @{ AffectedSystem = $planned })
  throw
}
if ($failed) {
  [void](Invoke-CimMethod -InputObject $vmms -MethodName DestroySystem -Arguments @{ AffectedSystem = $planned })
  ConvertTo-HvsnapJson ([ordered]@{ Result = $failed })
  return
}
$vm = Get-HvsnapVm $realized
ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result; Vm = (ConvertTo-HvsnapVm $vm (Get-HvsnapGroupMembership)) })
